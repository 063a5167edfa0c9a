package auth

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// memStore is an in-memory TokenStore. It keeps copies, so the registry
// cannot change what was "written" behind its back, and fails with err
// when that is set.
type memStore struct {
	mu     sync.Mutex
	tokens map[string]*gpuqv1.TokenInfo
	puts   int
	err    error // PutToken and Tokens fail with it
}

var _ TokenStore = (*memStore)(nil)

func newMemStore(list ...*gpuqv1.TokenInfo) *memStore {
	s := &memStore{tokens: map[string]*gpuqv1.TokenInfo{}}
	for _, t := range list {
		s.tokens[t.Id] = proto.Clone(t).(*gpuqv1.TokenInfo)
	}
	return s
}

func (s *memStore) PutToken(t *gpuqv1.TokenInfo) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.puts++
	s.tokens[t.Id] = proto.Clone(t).(*gpuqv1.TokenInfo)
	return nil
}

func (s *memStore) Tokens() ([]*gpuqv1.TokenInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	var out []*gpuqv1.TokenInfo
	for _, t := range s.tokens {
		out = append(out, proto.Clone(t).(*gpuqv1.TokenInfo))
	}
	return out, nil
}

func (s *memStore) get(id string) *gpuqv1.TokenInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokens[id]; ok {
		return proto.Clone(t).(*gpuqv1.TokenInfo)
	}
	return nil
}

func (s *memStore) putCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.puts
}

const (
	testPin    = "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12"
	testMaxTTL = 90 * 24 * time.Hour
)

var errDisk = errors.New("disk on fire")

func newTestRegistry(t *testing.T, store *memStore) *Registry {
	t.Helper()
	r, err := NewRegistry(testSigner(t, 1), store, testPin, testMaxTTL)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustIssue(t *testing.T, r *Registry, subject string, role Role, teams []string, ttl time.Duration, now time.Time) (string, *gpuqv1.TokenInfo) {
	t.Helper()
	tok, info, err := r.Issue(subject, role, teams, ttl, "user root", now)
	if err != nil {
		t.Fatalf("Issue(%s): %v", subject, err)
	}
	return tok, info
}

func TestRegistryIssue(t *testing.T) {
	store := newMemStore()
	r := newTestRegistry(t, store)
	now := t0.Add(1500 * time.Millisecond) // not a whole second
	teams := []string{"sf", "ny"}
	tok, info, err := r.Issue("carol", RoleTeamAdmin, teams, 720*time.Hour, "user root", now)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	issued := now.UTC().Truncate(time.Second)
	want := &gpuqv1.TokenInfo{Id: info.GetId(), Subject: "carol", Teams: []string{"sf", "ny"}, Role: "team-admin",
		Issued: timestamppb.New(issued), Expires: timestamppb.New(now.Add(720 * time.Hour).Truncate(time.Second)), IssuedBy: "user root"}
	if diff := cmp.Diff(want, info, protocmp.Transform()); diff != "" {
		t.Errorf("Issue's record (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(info.GetId(), "tok_") {
		t.Errorf("token id %q does not start with tok_", info.GetId())
	}
	// Recorded durably by the time Issue returned.
	if diff := cmp.Diff(want, store.get(info.GetId()), protocmp.Transform()); diff != "" {
		t.Errorf("the store's record (-want +got):\n%s", diff)
	}
	// The token carries the claims, the CA pin, and no secret of the registry.
	c, err := ReadClaims(tok)
	if err != nil {
		t.Fatalf("ReadClaims: %v", err)
	}
	wantClaims := Claims{ID: info.GetId(), Subject: "carol", Teams: []string{"sf", "ny"}, Role: RoleTeamAdmin,
		Issued: issued, Expires: want.Expires.AsTime(), CA: testPin}
	if diff := cmp.Diff(wantClaims, c); diff != "" {
		t.Errorf("the token's claims (-want +got):\n%s", diff)
	}
	got, err := r.Check(tok, now)
	if err != nil {
		t.Fatalf("Check of a token just issued: %v", err)
	}
	if diff := cmp.Diff(wantClaims, got); diff != "" {
		t.Errorf("Check (-want +got):\n%s", diff)
	}
	// Changing what the caller passed or got back changes nothing inside.
	teams[0] = "mallory"
	info.Subject = "mallory"
	info.Teams[0] = "mallory"
	if diff := cmp.Diff([]*gpuqv1.TokenInfo{want}, r.List(true, now), protocmp.Transform()); diff != "" {
		t.Errorf("List after the caller changed its slices (-want +got):\n%s", diff)
	}
	if _, err := r.Check(tok, now); err != nil {
		t.Errorf("Check after the caller changed its slices: %v", err)
	}
}

func TestRegistryIssueTTL(t *testing.T) {
	tests := []struct {
		ttl time.Duration
		ok  bool
	}{
		{ttl: -time.Hour},
		{ttl: -time.Nanosecond},
		{ttl: 0},
		{ttl: time.Nanosecond}, // would expire the second it was issued
		{ttl: time.Second - time.Nanosecond},
		{ttl: time.Second, ok: true},
		{ttl: time.Hour, ok: true},
		{ttl: testMaxTTL - time.Second, ok: true},
		{ttl: testMaxTTL, ok: true},
		{ttl: testMaxTTL + time.Nanosecond},
		{ttl: 10 * testMaxTTL},
	}
	for _, tt := range tests {
		t.Run(tt.ttl.String(), func(t *testing.T) {
			store := newMemStore()
			r := newTestRegistry(t, store)
			tok, info, err := r.Issue("alice", RoleUser, []string{"sf"}, tt.ttl, "user root", t0)
			if tt.ok {
				if err != nil {
					t.Fatalf("Issue(ttl %s): %v", tt.ttl, err)
				}
				if got, want := info.GetExpires().AsTime(), t0.Add(tt.ttl); !got.Equal(want) {
					t.Errorf("expires %s, want %s", got, want)
				}
				if _, err := r.Check(tok, t0.Add(tt.ttl-time.Nanosecond)); err != nil {
					t.Errorf("Check just before expiry: %v", err)
				}
				if _, err := r.Check(tok, t0.Add(tt.ttl)); !errors.Is(err, ErrTokenExpired) {
					t.Errorf("Check at expiry: %v, want ErrTokenExpired", err)
				}
				return
			}
			var fe *job.FieldError
			if !errors.As(err, &fe) || fe.Field != "ttl" {
				t.Fatalf("Issue(ttl %s) = %q, %v; want a *job.FieldError for ttl", tt.ttl, tok, err)
			}
			if tok != "" || info != nil {
				t.Errorf("Issue refused but returned %q, %v", tok, info)
			}
			if store.putCount() != 0 || len(r.List(true, t0)) != 0 {
				t.Errorf("a refused Issue left a record")
			}
		})
	}
}

func TestRegistryIssueStoreError(t *testing.T) {
	store := newMemStore()
	r := newTestRegistry(t, store)
	store.err = errDisk
	tok, info, err := r.Issue("alice", RoleUser, nil, time.Hour, "user root", t0)
	if !errors.Is(err, errDisk) {
		t.Fatalf("Issue with a failing store: %v, want %v", err, errDisk)
	}
	if tok != "" || info != nil {
		t.Errorf("Issue failed but handed out %q, %v", tok, info)
	}
	if got := r.List(true, t0); len(got) != 0 {
		t.Errorf("List after a failed Issue: %v", got)
	}
	store.err = nil
	if got := r.List(true, t0); len(got) != 0 {
		t.Errorf("List after the store recovered: %v", got)
	}
}

func TestRegistryCheck(t *testing.T) {
	signer := testSigner(t, 1)
	store := newMemStore()
	r, err := NewRegistry(signer, store, testPin, testMaxTTL)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := mustIssue(t, r, "alice", RoleUser, []string{"sf"}, time.Hour, t0)
	revoked, revokedInfo := mustIssue(t, r, "bob", RoleUser, []string{"ny"}, time.Hour, t0)
	if _, err := r.Revoke(revokedInfo.GetId(), t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	goodClaims, _ := ReadClaims(good)

	// Signed with the right key but never issued: a stolen key is not enough.
	neverIssued := mustSign(t, signer, Claims{ID: NewTokenID(), Subject: "alice", Role: RoleOperator, Expires: t0.Add(time.Hour)})
	// The id of an issued token on claims for someone else.
	otherSubject := goodClaims
	otherSubject.Subject = "mallory"
	wrongSubject := mustSign(t, signer, otherSubject)
	// With the signing key, the id and subject of an issued token on
	// claims the registry never issued: another role, more teams, a later
	// expiry.
	promoted := goodClaims
	promoted.Role = RoleOperator
	moreTeams := goodClaims
	moreTeams.Teams = []string{"sf", "ny"}
	extended := goodClaims
	extended.Expires = goodClaims.Expires.Add(365 * 24 * time.Hour)
	otherKey := mustSign(t, testSigner(t, 2), goodClaims)

	tests := []struct {
		name string
		tok  string
		now  time.Time
		want error // nil: accepted
	}{
		{name: "issued", tok: good, now: t0},
		{name: "issued, later", tok: good, now: t0.Add(59 * time.Minute)},
		{name: "expired", tok: good, now: t0.Add(time.Hour), want: ErrTokenExpired},
		{name: "revoked", tok: revoked, now: t0.Add(2 * time.Minute), want: ErrTokenRevoked},
		{name: "revoked, checked at a time before the revocation", tok: revoked, now: t0, want: ErrTokenRevoked},
		{name: "never issued", tok: neverIssued, now: t0, want: ErrTokenUnknown},
		{name: "subject mismatch", tok: wrongSubject, now: t0, want: ErrTokenForged},
		{name: "signed by another key", tok: otherKey, now: t0, want: ErrTokenForged},
		{name: "role changed with the key", tok: mustSign(t, signer, promoted), now: t0, want: ErrTokenForged},
		{name: "teams changed with the key", tok: mustSign(t, signer, moreTeams), now: t0, want: ErrTokenForged},
		{name: "expiry extended with the key", tok: mustSign(t, signer, extended), now: t0.Add(2 * time.Hour), want: ErrTokenForged},
		{name: "garbage", tok: "gpuq_garbage", now: t0, want: ErrBadToken},
		{name: "empty", tok: "", now: t0, want: ErrBadToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := r.Check(tt.tok, tt.now)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				if c.Subject != "alice" {
					t.Errorf("Check: subject %q, want alice", c.Subject)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Check: %v, want %v", err, tt.want)
			}
			if !IsCredentialError(err) {
				t.Errorf("IsCredentialError(%v) = false", err)
			}
		})
	}
}

func TestRegistryRevoke(t *testing.T) {
	store := newMemStore()
	r := newTestRegistry(t, store)
	tok, info := mustIssue(t, r, "alice", RoleUser, []string{"sf"}, time.Hour, t0)
	other, _ := mustIssue(t, r, "alice", RoleUser, []string{"sf"}, time.Hour, t0)
	at := t0.Add(10 * time.Minute)

	got, err := r.Revoke(info.GetId(), at)
	if err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	want := proto.Clone(info).(*gpuqv1.TokenInfo)
	want.Revoked = timestamppb.New(at)
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("Revoke (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, store.get(info.GetId()), protocmp.Transform()); diff != "" {
		t.Errorf("the store's record after Revoke (-want +got):\n%s", diff)
	}
	if _, err := r.Check(tok, at); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("Check after Revoke: %v, want ErrTokenRevoked", err)
	} else if !strings.Contains(err.Error(), at.Format(time.RFC3339)) {
		t.Errorf("Check after Revoke: %q does not say when", err)
	}
	if _, err := r.Check(other, at); err != nil {
		t.Errorf("revoking one token refused another of the same user: %v", err)
	}

	// Revoking again keeps the first time and writes nothing.
	puts := store.putCount()
	again, err := r.Revoke(info.GetId(), at.Add(time.Hour))
	if err != nil {
		t.Fatalf("second Revoke: %v", err)
	}
	if diff := cmp.Diff(want, again, protocmp.Transform()); diff != "" {
		t.Errorf("second Revoke (-want +got):\n%s", diff)
	}
	if store.putCount() != puts {
		t.Errorf("second Revoke wrote to the store")
	}
	// What Revoke returned is a copy.
	again.Revoked = nil
	if _, err := r.Check(tok, at); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("Check after the caller changed Revoke's result: %v", err)
	}

	for _, id := range []string{"tok_0000000000000000", "", "alice"} {
		if got, err := r.Revoke(id, at); !errors.Is(err, job.ErrNotFound) || got != nil {
			t.Errorf("Revoke(%q) = %v, %v; want job.ErrNotFound", id, got, err)
		}
	}
}

func TestRegistryRevokeStoreError(t *testing.T) {
	store := newMemStore()
	r := newTestRegistry(t, store)
	tok, info := mustIssue(t, r, "alice", RoleUser, nil, time.Hour, t0)
	store.err = errDisk
	if got, err := r.Revoke(info.GetId(), t0); !errors.Is(err, errDisk) || got != nil {
		t.Fatalf("Revoke with a failing store = %v, %v; want %v", got, err, errDisk)
	}
	store.err = nil
	if _, err := r.Check(tok, t0); err != nil {
		t.Errorf("a failed Revoke revoked the token anyway: %v", err)
	}
	if got := r.List(false, t0); len(got) != 1 || got[0].GetRevoked() != nil {
		t.Errorf("List after a failed Revoke: %v", got)
	}
	if store.get(info.GetId()).GetRevoked() != nil {
		t.Errorf("the store holds a revocation that failed")
	}
	// And it can be revoked once the store works again.
	if _, err := r.Revoke(info.GetId(), t0); err != nil {
		t.Fatalf("Revoke after the store recovered: %v", err)
	}
	if _, err := r.Check(tok, t0); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("Check: %v, want ErrTokenRevoked", err)
	}
}

func TestNewRegistryReloads(t *testing.T) {
	signer := testSigner(t, 1)
	store := newMemStore()
	first, err := NewRegistry(signer, store, testPin, testMaxTTL)
	if err != nil {
		t.Fatal(err)
	}
	kept, _ := mustIssue(t, first, "alice", RoleUser, []string{"sf"}, time.Hour, t0)
	gone, goneInfo := mustIssue(t, first, "bob", RoleOperator, nil, time.Hour, t0)
	if _, err := first.Revoke(goneInfo.GetId(), t0); err != nil {
		t.Fatal(err)
	}

	// A restart: a new registry over the same store.
	second, err := NewRegistry(signer, store, testPin, testMaxTTL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := second.Check(kept, t0); err != nil {
		t.Errorf("after reload, Check(kept): %v", err)
	}
	if _, err := second.Check(gone, t0); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("after reload, Check(revoked): %v, want ErrTokenRevoked", err)
	}
	if diff := cmp.Diff(first.List(true, t0), second.List(true, t0), protocmp.Transform()); diff != "" {
		t.Errorf("List after reload (-before +after):\n%s", diff)
	}
	// A new key does not make the old records' tokens valid again.
	third, err := NewRegistry(testSigner(t, 2), store, testPin, testMaxTTL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := third.Check(kept, t0); !errors.Is(err, ErrTokenForged) {
		t.Errorf("Check with a new key: %v, want ErrTokenForged", err)
	}
}

func TestNewRegistryStoreError(t *testing.T) {
	store := newMemStore()
	store.err = errDisk
	r, err := NewRegistry(testSigner(t, 1), store, testPin, testMaxTTL)
	if !errors.Is(err, errDisk) || r != nil {
		t.Fatalf("NewRegistry with a failing store = %v, %v; want %v", r, err, errDisk)
	}
}

func TestRegistryList(t *testing.T) {
	at := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(t0.Add(d)) }
	records := []*gpuqv1.TokenInfo{
		{Id: "tok_c", Subject: "carol", Issued: at(2 * time.Hour), Expires: at(100 * time.Hour)},
		{Id: "tok_b", Subject: "bob", Issued: at(0), Expires: at(100 * time.Hour)},
		{Id: "tok_a", Subject: "alice", Issued: at(0), Expires: at(100 * time.Hour)},
		{Id: "tok_revoked", Subject: "dave", Issued: at(time.Hour), Expires: at(100 * time.Hour), Revoked: at(90 * time.Minute)},
		{Id: "tok_expired", Subject: "erin", Issued: at(-2 * time.Hour), Expires: at(3 * time.Hour)},
		{Id: "tok_old", Subject: "frank", Issued: at(-48 * time.Hour), Expires: at(-24 * time.Hour)},
	}
	r := newTestRegistry(t, newMemStore(records...))
	ids := func(list []*gpuqv1.TokenInfo) []string {
		var out []string
		for _, t := range list {
			out = append(out, t.GetId())
		}
		return out
	}
	tests := []struct {
		name string
		all  bool
		now  time.Duration
		want []string
	}{
		{name: "all", all: true, now: 3 * time.Hour, want: []string{"tok_old", "tok_expired", "tok_a", "tok_b", "tok_revoked", "tok_c"}},
		{name: "all, any time", all: true, now: 1000 * time.Hour, want: []string{"tok_old", "tok_expired", "tok_a", "tok_b", "tok_revoked", "tok_c"}},
		{name: "active, before expiry", now: 3*time.Hour - time.Nanosecond, want: []string{"tok_expired", "tok_a", "tok_b", "tok_c"}},
		{name: "active, at expiry", now: 3 * time.Hour, want: []string{"tok_a", "tok_b", "tok_c"}},
		{name: "active, all expired", now: 100 * time.Hour, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ids(r.List(tt.all, t0.Add(tt.now)))); diff != "" {
				t.Errorf("List (-want +got):\n%s", diff)
			}
		})
	}
	// List hands out copies.
	list := r.List(true, t0)
	for _, t := range list {
		t.Subject = "mallory"
		t.Revoked = nil
	}
	if got := r.List(true, t0); slices.ContainsFunc(got, func(t *gpuqv1.TokenInfo) bool { return t.GetSubject() == "mallory" }) {
		t.Errorf("changing List's result changed the registry")
	}
	if got := ids(r.List(false, t0.Add(2*time.Hour))); slices.Contains(got, "tok_revoked") {
		t.Errorf("changing List's result un-revoked a token: %v", got)
	}
}

// Check, Issue, Revoke and List may be called from many goroutines (run
// with -race).
func TestRegistryConcurrent(t *testing.T) {
	r := newTestRegistry(t, newMemStore())
	tok, info := mustIssue(t, r, "alice", RoleUser, nil, time.Hour, t0)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 50 {
				_, _ = r.Check(tok, t0)
				_ = r.List(i%2 == 0, t0)
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if _, _, err := r.Issue("bob", RoleUser, nil, time.Hour, "user root", t0); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Go(func() {
		if _, err := r.Revoke(info.GetId(), t0); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	if _, err := r.Check(tok, t0); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("Check after concurrent Revoke: %v", err)
	}
	if got := len(r.List(true, t0)); got != 21 {
		t.Errorf("List: %d tokens, want 21", got)
	}
}

// Revoking a principal's certificates refuses those issued until then,
// not those issued after; a node's tokens go with them; it survives a
// reload and stays out of token lists.
func TestRevokeCertificates(t *testing.T) {
	st := newMemStore()
	r := newTestRegistry(t, st)
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	_, nodeTok := mustIssue(t, r, "n1", RoleNode, nil, time.Hour, t0)
	_, otherTok := mustIssue(t, r, "n2", RoleNode, nil, time.Hour, t0)
	n1 := &Identity{Kind: KindNode, Name: "n1"}
	if err := r.CheckCert(n1, t0); err != nil {
		t.Fatalf("before any revocation: %v", err)
	}
	at := t0.Add(time.Minute)
	ids, err := r.RevokeCertificates(KindNode, "n1", at)
	if err != nil || len(ids) != 1 || ids[0] != nodeTok.Id {
		t.Fatalf("RevokeCertificates = %v, %v; want [%s]", ids, err, nodeTok.Id)
	}
	for _, tc := range []struct {
		id     *Identity
		issued time.Time
		want   bool // refused
	}{
		{n1, t0, true},
		{n1, at, true},
		{n1, at.Add(time.Second), false},
		{&Identity{Kind: KindNode, Name: "n2"}, t0, false},
		{&Identity{Kind: KindUser, Name: "n1"}, t0, false}, // a user called n1 is someone else
	} {
		err := r.CheckCert(tc.id, tc.issued)
		if (err != nil) != tc.want || (err != nil && !errors.Is(err, ErrCertRevoked)) {
			t.Errorf("CheckCert(%s, %s) = %v, want refused %v", tc.id, tc.issued, err, tc.want)
		}
	}
	reloaded := newTestRegistry(t, st)
	if err := reloaded.CheckCert(n1, t0); !errors.Is(err, ErrCertRevoked) {
		t.Errorf("after a reload: %v, want ErrCertRevoked", err)
	}
	for _, info := range reloaded.List(true, at) {
		if info.Id != nodeTok.Id && info.Id != otherTok.Id {
			t.Errorf("List shows %s", info.Id)
		}
	}
	if got := reloaded.List(false, at); len(got) != 1 || got[0].Id != otherTok.Id {
		t.Errorf("active tokens = %v, want only n2's", got)
	}
}

func TestRenewNode(t *testing.T) {
	store := newMemStore()
	r := newTestRegistry(t, store)
	t0 := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	tok1, info1 := mustIssue(t, r, "n1", RoleNode, nil, NodeValidity, t0)
	byToken := func(info *gpuqv1.TokenInfo) *Identity {
		return &Identity{Kind: KindNode, Name: "n1", Method: MethodToken, TokenID: info.Id, Issued: info.Issued.AsTime()}
	}

	// A renewal keeps the token presented valid (the node may never get
	// the answer), and revokes those issued before it.
	t1 := t0.Add(200 * 24 * time.Hour)
	tok2, info2, err := r.RenewNode(byToken(info1), t1)
	if err != nil {
		t.Fatalf("RenewNode: %v", err)
	}
	if info2.Subject != "n1" || info2.Role != string(RoleNode) || !info2.Expires.AsTime().Equal(t1.Add(NodeValidity)) || store.get(info2.Id) == nil {
		t.Errorf("renewed token %v; want node n1's for a year, recorded", info2)
	}
	for _, tok := range []string{tok1, tok2} {
		if _, err := r.Check(tok, t1); err != nil {
			t.Errorf("after the first renewal: %v", err)
		}
	}
	t2 := t1.Add(100 * 24 * time.Hour)
	tok3, _, err := r.RenewNode(byToken(info2), t2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Check(tok1, t2); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("the token before the one presented: %v, want revoked", err)
	}
	for _, tok := range []string{tok2, tok3} {
		if _, err := r.Check(tok, t2); err != nil {
			t.Errorf("after the second renewal: %v", err)
		}
	}
	if _, _, err := r.RenewNode(byToken(info1), t2); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("renewal with a revoked token: %v", err)
	}

	// A certificate: refused once the node's certificates are revoked,
	// whichever comes first; a renewal before the revocation has its
	// token revoked with the rest.
	byCert := &Identity{Kind: KindNode, Name: "n1", Method: MethodCert, Issued: t1}
	tok4, info4, err := r.RenewNode(byCert, t2)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := r.RevokeCertificates(KindNode, "n1", t2.Add(time.Minute))
	if err != nil || !slices.Contains(ids, info4.Id) {
		t.Fatalf("RevokeCertificates = %v, %v; want the renewed token %s among them", ids, err, info4.Id)
	}
	if _, err := r.Check(tok4, t2.Add(time.Minute)); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("renewed token after the revocation: %v", err)
	}
	if _, _, err := r.RenewNode(byCert, t2.Add(2*time.Minute)); !errors.Is(err, ErrCertRevoked) {
		t.Errorf("renewal with a revoked certificate: %v", err)
	}
	if _, _, err := r.RenewNode(&Identity{Kind: KindUser, Name: "n1", Method: MethodToken, TokenID: info1.Id}, t2); err == nil {
		t.Error("a user renewed node credentials")
	}
}
