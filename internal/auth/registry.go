package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// RoleNode is the role of the tokens JoinNode hands to nodes.
const RoleNode Role = "node"

// TokenStore keeps the records of issued tokens durably.
type TokenStore interface {
	PutToken(*gpuqv1.TokenInfo) error
	Tokens() ([]*gpuqv1.TokenInfo, error)
}

// Registry issues, checks and revokes tokens. A token is valid when its
// signature matches, it has not expired, and the registry has a record of
// it that is not revoked: a token signed with a stolen key but never
// issued is refused too.
type Registry struct {
	signer *Signer
	store  TokenStore
	caPin  string
	maxTTL time.Duration

	mu     sync.RWMutex
	tokens map[string]*gpuqv1.TokenInfo
	// certsRevoked is, per "node/<name>" or "user/<name>", when the
	// certificates issued to it until then were revoked.
	certsRevoked map[string]time.Time
}

// certRevocationPrefix marks the records of certificate revocations among
// the token records (they share the store's k/ keys).
const certRevocationPrefix = "certs/"

// NewRegistry loads the issued tokens from store. caPin (the CA's
// fingerprint) goes into every token; maxTTL bounds their lifetime.
func NewRegistry(signer *Signer, store TokenStore, caPin string, maxTTL time.Duration) (*Registry, error) {
	list, err := store.Tokens()
	if err != nil {
		return nil, fmt.Errorf("load tokens: %w", err)
	}
	r := &Registry{signer: signer, store: store, caPin: caPin, maxTTL: maxTTL, tokens: map[string]*gpuqv1.TokenInfo{},
		certsRevoked: map[string]time.Time{}}
	for _, t := range list {
		if key, ok := strings.CutPrefix(t.Id, certRevocationPrefix); ok {
			r.certsRevoked[key] = t.Revoked.AsTime()
			continue
		}
		r.tokens[t.Id] = t
	}
	return r, nil
}

// Issue signs a token for subject and records it durably before returning
// it. by names the issuer for the record.
func (r *Registry) Issue(subject string, role Role, teams []string, ttl time.Duration, by string, now time.Time) (string, *gpuqv1.TokenInfo, error) {
	tok, info, err := r.newToken(subject, role, teams, ttl, by, now)
	if err != nil {
		return "", nil, err
	}
	r.mu.Lock()
	r.tokens[info.Id] = info
	r.mu.Unlock()
	return tok, proto.Clone(info).(*gpuqv1.TokenInfo), nil
}

// newToken signs a token and records it durably; the caller adds it to
// r.tokens.
func (r *Registry) newToken(subject string, role Role, teams []string, ttl time.Duration, by string, now time.Time) (string, *gpuqv1.TokenInfo, error) {
	if ttl < time.Second || (ttl > r.maxTTL && role != RoleNode) {
		return "", nil, &job.FieldError{Field: "ttl", Problem: fmt.Sprintf("must be between 1s and %s, got %s", r.maxTTL, ttl)}
	}
	c := Claims{ID: NewTokenID(), Subject: subject, Teams: slices.Clone(teams), Role: role,
		Issued: now.UTC().Truncate(time.Second), Expires: now.Add(ttl).UTC().Truncate(time.Second), CA: r.caPin}
	tok, err := r.signer.Sign(c)
	if err != nil {
		return "", nil, fmt.Errorf("sign token: %w", err)
	}
	info := &gpuqv1.TokenInfo{Id: c.ID, Subject: subject, Teams: c.Teams, Role: string(role),
		Issued: timestamppb.New(c.Issued), Expires: timestamppb.New(c.Expires), IssuedBy: by}
	if err := r.store.PutToken(info); err != nil {
		return "", nil, fmt.Errorf("record token: %w", err)
	}
	return tok, info, nil
}

// RenewNode issues the node id a new node token (NodeValidity) in place of
// the credential it presented, which is checked again under the registry's
// lock: a revocation of the node is never outrun by a renewal that passed
// the Guard before it (RevokeCertificates revokes the new token, or the
// check here refuses). The node's tokens issued before the presented
// credential are revoked; the one issued with it stays valid until it
// expires, so a node that never receives the answer can still renew.
func (r *Registry) RenewNode(id *Identity, now time.Time) (string, *gpuqv1.TokenInfo, error) {
	if id == nil || id.Kind != KindNode {
		return "", nil, fmt.Errorf("%w: not a node", ErrBadToken)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch id.Method {
	case MethodToken:
		if t := r.tokens[id.TokenID]; t == nil || t.Revoked != nil {
			return "", nil, fmt.Errorf("%w: node %s's token", ErrTokenRevoked, id.Name)
		}
	default:
		if err := r.checkCertLocked(id, id.Issued); err != nil {
			return "", nil, err
		}
	}
	tok, info, err := r.newToken(id.Name, RoleNode, nil, NodeValidity, "renewal", now)
	if err != nil {
		return "", nil, err
	}
	r.tokens[info.Id] = info
	presented := id.Issued.Truncate(time.Second)
	for tid, t := range r.tokens {
		if t.Role == string(RoleNode) && t.Subject == id.Name && t.Revoked == nil && t.Issued.AsTime().Before(presented) {
			if _, err := r.revokeLocked(tid, t, now); err != nil {
				return "", nil, err
			}
		}
	}
	return tok, proto.Clone(info).(*gpuqv1.TokenInfo), nil
}

// Check verifies tok at now and returns its claims.
func (r *Registry) Check(tok string, now time.Time) (Claims, error) {
	c, err := r.signer.Verify(tok, now)
	if err != nil {
		return c, err
	}
	r.mu.RLock()
	info, ok := r.tokens[c.ID]
	r.mu.RUnlock()
	switch {
	case !ok:
		return c, ErrTokenUnknown
	case info.Revoked != nil:
		return c, fmt.Errorf("%w at %s", ErrTokenRevoked, info.Revoked.AsTime().Format(time.RFC3339))
	case info.Subject != c.Subject || info.Role != string(c.Role) || !slices.Equal(info.Teams, c.Teams) || !info.Expires.AsTime().Equal(c.Expires):
		return c, ErrTokenForged
	}
	return c, nil
}

// Revoke marks token id revoked from now on, durably.
func (r *Registry) Revoke(id string, now time.Time) (*gpuqv1.TokenInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	info, ok := r.tokens[id]
	if !ok {
		return nil, fmt.Errorf("token %s: %w", id, job.ErrNotFound)
	}
	if info.Revoked != nil {
		return proto.Clone(info).(*gpuqv1.TokenInfo), nil
	}
	next, err := r.revokeLocked(id, info, now)
	if err != nil {
		return nil, err
	}
	return proto.Clone(next).(*gpuqv1.TokenInfo), nil
}

// revokeLocked records token id (info) revoked at now, durably. The caller
// holds mu.
func (r *Registry) revokeLocked(id string, info *gpuqv1.TokenInfo, now time.Time) (*gpuqv1.TokenInfo, error) {
	next := proto.Clone(info).(*gpuqv1.TokenInfo)
	next.Revoked = timestamppb.New(now)
	if err := r.store.PutToken(next); err != nil {
		return nil, fmt.Errorf("record revocation: %w", err)
	}
	r.tokens[id] = next
	return next, nil
}

// List returns the issued tokens, oldest first; without all, only those
// neither revoked nor expired at now.
func (r *Registry) List(all bool, now time.Time) []*gpuqv1.TokenInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*gpuqv1.TokenInfo
	for _, t := range r.tokens {
		if all || (t.Revoked == nil && now.Before(t.Expires.AsTime())) {
			out = append(out, proto.Clone(t).(*gpuqv1.TokenInfo))
		}
	}
	slices.SortFunc(out, func(a, b *gpuqv1.TokenInfo) int {
		if c := a.Issued.AsTime().Compare(b.Issued.AsTime()); c != 0 {
			return c
		}
		return strings.Compare(a.Id, b.Id)
	})
	return out
}

// NodeJoined reports whether the node called name holds a node token that
// is neither revoked nor expired at now: it has joined and not been
// revoked since.
func (r *Registry) NodeJoined(name string, now time.Time) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, t := range r.tokens {
		if t.Role == string(RoleNode) && t.Subject == name && t.Revoked == nil && now.Before(t.Expires.AsTime()) {
			return true
		}
	}
	return false
}

// ErrCertRevoked is a client certificate issued before its principal's
// certificates were revoked.
var ErrCertRevoked = errors.New("certificate revoked")

func certKey(kind Kind, name string) string {
	if kind == KindNode {
		return "node/" + name
	}
	return "user/" + name
}

// RevokeCertificates refuses, from now on, the certificates issued to the
// node or user until now, durably; for a node, its node tokens are revoked
// too. It returns the ids of the tokens it revoked.
func (r *Registry) RevokeCertificates(kind Kind, name string, now time.Time) ([]string, error) {
	now = now.UTC()
	key := certKey(kind, name)
	rec := &gpuqv1.TokenInfo{Id: certRevocationPrefix + key, Subject: name, Role: "certificates", Issued: timestamppb.New(now),
		Expires: timestamppb.New(now), IssuedBy: "certificate revocation", Revoked: timestamppb.New(now)}
	if err := r.store.PutToken(rec); err != nil {
		return nil, fmt.Errorf("record revocation: %w", err)
	}
	r.mu.Lock()
	r.certsRevoked[key] = now
	var ids []string
	for id, t := range r.tokens {
		if kind == KindNode && t.Role == string(RoleNode) && t.Subject == name && t.Revoked == nil {
			ids = append(ids, id)
		}
	}
	r.mu.Unlock()
	slices.Sort(ids)
	for _, id := range ids {
		if _, err := r.Revoke(id, now); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// CheckCert refuses a certificate of id's principal issued at or before
// the revocation of its certificates.
func (r *Registry) CheckCert(id *Identity, issued time.Time) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.checkCertLocked(id, issued)
}

// checkCertLocked is CheckCert; the caller holds mu.
func (r *Registry) checkCertLocked(id *Identity, issued time.Time) error {
	if at, ok := r.certsRevoked[certKey(id.Kind, id.Name)]; ok && !issued.After(at) {
		return fmt.Errorf("%w: %s's certificates were revoked at %s", ErrCertRevoked, id, at.Format(time.RFC3339))
	}
	return nil
}

// IsCredentialError reports whether err is a problem with a presented
// credential (as opposed to an internal failure).
func IsCredentialError(err error) bool { return errors.Is(err, ErrBadToken) }
