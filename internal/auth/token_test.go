package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// t0 is the fixed "now" of these tests: a whole second, UTC.
var t0 = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func testSigner(t testing.TB, b byte) *Signer {
	t.Helper()
	s, err := NewSigner(testKey(b))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testClaims() Claims {
	return Claims{
		ID: "tok_0123456789abcdef", Subject: "alice", Teams: []string{"sf", "ny"}, Role: RoleTeamAdmin,
		Issued: t0, Expires: t0.Add(time.Hour), CA: strings.Repeat("ab", 32),
	}
}

func mustSign(t testing.TB, s *Signer, c Claims) string {
	t.Helper()
	tok, err := s.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// forge builds a token whose claims are body (raw JSON) and whose
// signature is sig (raw bytes), both encoded as Sign encodes them.
func forge(body string, sig []byte) string {
	return TokenPrefix + b64.EncodeToString([]byte(body)) + "." + b64.EncodeToString(sig)
}

func TestNewSigner(t *testing.T) {
	for _, n := range []int{0, 1, KeySize - 1, KeySize + 1, 64} {
		if _, err := NewSigner(make([]byte, n)); err == nil {
			t.Errorf("NewSigner(%d bytes): no error", n)
		}
	}
	key := testKey(7)
	s, err := NewSigner(key)
	if err != nil {
		t.Fatalf("NewSigner(%d bytes): %v", KeySize, err)
	}
	tok := mustSign(t, s, testClaims())
	// The signer keeps its own copy: changing the caller's slice changes nothing.
	key[0] ^= 0xff
	if _, err := s.Verify(tok, t0); err != nil {
		t.Errorf("after the caller changed its key slice: %v", err)
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	s := testSigner(t, 1)
	for _, c := range []Claims{
		testClaims(),
		{ID: "x", Subject: "y", Expires: t0.Add(time.Nanosecond)},
		{ID: "tok_1", Subject: "n1", Role: RoleNode, Issued: t0, Expires: t0.Add(NodeValidity)},
		{ID: "tok_2", Subject: "ünïcødé \"quoted\" <user>", Teams: []string{"a.b", ""}, Role: RoleOperator, Expires: t0.Add(time.Minute)},
	} {
		tok := mustSign(t, s, c)
		if !strings.HasPrefix(tok, TokenPrefix) {
			t.Errorf("token %q does not start with %q", tok, TokenPrefix)
		}
		if strings.Count(tok, ".") != 1 {
			t.Errorf("token %q: want exactly one '.'", tok)
		}
		got, err := s.Verify(tok, t0)
		if err != nil {
			t.Fatalf("Verify(Sign(%+v)): %v", c, err)
		}
		if diff := cmp.Diff(c, got); diff != "" {
			t.Errorf("Verify(Sign(c)) (-want +got):\n%s", diff)
		}
		read, err := ReadClaims(tok)
		if err != nil {
			t.Fatalf("ReadClaims: %v", err)
		}
		if diff := cmp.Diff(c, read); diff != "" {
			t.Errorf("ReadClaims(Sign(c)) (-want +got):\n%s", diff)
		}
		// Signing is deterministic.
		if again := mustSign(t, s, c); again != tok {
			t.Errorf("Sign twice: %q then %q", tok, again)
		}
	}
}

func TestVerifyBadTokens(t *testing.T) {
	s := testSigner(t, 1)
	other := testSigner(t, 2)
	good := mustSign(t, s, testClaims())
	payload, sig, _ := strings.Cut(good, ".")
	body, _ := json.Marshal(testClaims())
	mac := s.mac(payload)

	changed := testClaims()
	changed.Subject = "mallory"
	changedPayload, _, _ := strings.Cut(mustSign(t, s, changed), ".")
	promoted := testClaims()
	promoted.Role = RoleOperator
	promotedPayload, _, _ := strings.Cut(mustSign(t, s, promoted), ".")
	later := testClaims()
	later.Expires = later.Expires.Add(24 * time.Hour)
	laterPayload, _, _ := strings.Cut(mustSign(t, s, later), ".")

	signedBody := func(body string) string { // a properly signed token with raw claims
		p := TokenPrefix + b64.EncodeToString([]byte(body))
		return p + "." + b64.EncodeToString(s.mac(p))
	}

	tests := []struct {
		name   string
		tok    string
		forged bool // the error is ErrTokenForged (else only ErrBadToken)
	}{
		{name: "empty", tok: ""},
		{name: "no prefix", tok: strings.TrimPrefix(good, TokenPrefix)},
		{name: "other prefix", tok: "gpuqjoin_" + strings.TrimPrefix(good, TokenPrefix)},
		{name: "upper-case prefix", tok: strings.ToUpper(TokenPrefix) + strings.TrimPrefix(good, TokenPrefix)},
		{name: "leading space", tok: " " + good},
		{name: "Bearer in front", tok: "Bearer " + good},
		{name: "no signature", tok: payload},
		{name: "prefix only", tok: TokenPrefix},
		{name: "prefix and dot", tok: TokenPrefix + "."},
		{name: "empty signature", tok: payload + ".", forged: true},
		{name: "truncated signature", tok: payload + "." + sig[:len(sig)-4]},
		{name: "signature twice", tok: good + sig},
		{name: "signature spelt another way", tok: payload + "." + sig[:len(sig)-1] + string(sig[len(sig)-1]^1)},
		{name: "newline in the signature", tok: payload + "." + sig[:4] + "\n" + sig[4:]},
		{name: "second dot", tok: good + ".x"},
		{name: "claims not base64", tok: TokenPrefix + "!!!." + sig},
		{name: "claims in std base64", tok: TokenPrefix + "a+b/" + "." + sig},
		{name: "signature not base64", tok: payload + ".!!!"},
		{name: "signature padded", tok: good + "="},
		{name: "claims not JSON", tok: signedBody("not json")},
		{name: "claims a JSON array", tok: signedBody(`["id","sub"]`)},
		{name: "claims empty object", tok: signedBody(`{}`)},
		{name: "no id", tok: signedBody(`{"sub":"alice","exp":"2030-01-01T00:00:00Z"}`)},
		{name: "no subject", tok: signedBody(`{"id":"tok_1","exp":"2030-01-01T00:00:00Z"}`)},
		{name: "empty id", tok: signedBody(`{"id":"","sub":"alice","exp":"2030-01-01T00:00:00Z"}`)},
		{name: "id wrong type", tok: signedBody(`{"id":1,"sub":"alice","exp":"2030-01-01T00:00:00Z"}`)},
		{name: "bad expiry", tok: signedBody(`{"id":"tok_1","sub":"alice","exp":"tomorrow"}`)},
		{name: "no expiry is expired", tok: signedBody(`{"id":"tok_1","sub":"alice"}`)},
		{name: "signed with another key", tok: mustSign(t, other, testClaims()), forged: true},
		{name: "subject changed, old signature", tok: changedPayload + "." + sig, forged: true},
		{name: "role changed, old signature", tok: promotedPayload + "." + sig, forged: true},
		{name: "expiry extended, old signature", tok: laterPayload + "." + sig, forged: true},
		{name: "signature of the bare claims", tok: forge(string(body), s.mac(b64.EncodeToString(body))), forged: true},
		{name: "signature one bit off", tok: forge(string(body), flipBit(mac, 0)), forged: true},
		{name: "signature last bit off", tok: forge(string(body), flipBit(mac, len(mac)*8-1)), forged: true},
		{name: "unsigned (alg none)", tok: forge(string(body), nil), forged: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := s.Verify(tt.tok, t0)
			if err == nil {
				t.Fatalf("Verify(%q) = %+v, want an error", tt.tok, c)
			}
			if !errors.Is(err, ErrBadToken) {
				t.Errorf("Verify: %v, want it to wrap ErrBadToken", err)
			}
			if !IsCredentialError(err) {
				t.Errorf("IsCredentialError(%v) = false", err)
			}
			if got := errors.Is(err, ErrTokenForged); got != tt.forged {
				t.Errorf("Verify: %v; errors.Is(err, ErrTokenForged) = %v, want %v", err, got, tt.forged)
			}
			if diff := cmp.Diff(Claims{}, c); diff != "" {
				t.Errorf("Verify returned claims with its error (-want +got):\n%s", diff)
			}
			// The error never repeats the token (tokens are secrets).
			if len(tt.tok) > 8 && strings.Contains(err.Error(), tt.tok) {
				t.Errorf("error %q contains the token", err)
			}
		})
	}
}

func flipBit(b []byte, bit int) []byte {
	out := bytes.Clone(b)
	out[bit/8] ^= 1 << (bit % 8)
	return out
}

func TestVerifyExpiry(t *testing.T) {
	s := testSigner(t, 1)
	c := testClaims()
	tok := mustSign(t, s, c)
	tests := []struct {
		name    string
		now     time.Time
		expired bool
	}{
		{name: "long before", now: c.Expires.Add(-100 * 24 * time.Hour)},
		{name: "before it was issued", now: c.Issued.Add(-time.Hour)},
		{name: "at issue", now: c.Issued},
		{name: "just before expiry", now: c.Expires.Add(-time.Nanosecond)},
		{name: "at expiry", now: c.Expires, expired: true},
		{name: "just after expiry", now: c.Expires.Add(time.Nanosecond), expired: true},
		{name: "long after", now: c.Expires.Add(10 * 365 * 24 * time.Hour), expired: true},
		{name: "at expiry in another zone", now: c.Expires.In(time.FixedZone("UTC+9", 9*3600)), expired: true},
		{name: "before expiry in another zone", now: c.Expires.Add(-time.Second).In(time.FixedZone("UTC-7", -7*3600))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Verify(tok, tt.now)
			if tt.expired {
				if !errors.Is(err, ErrTokenExpired) || !errors.Is(err, ErrBadToken) {
					t.Fatalf("Verify at %s: %v, want ErrTokenExpired", tt.now, err)
				}
				if errors.Is(err, ErrTokenForged) {
					t.Errorf("an expired token is reported forged: %v", err)
				}
				if !strings.Contains(err.Error(), c.Expires.Format(time.RFC3339)) {
					t.Errorf("error %q does not say when it expired (%s)", err, c.Expires.Format(time.RFC3339))
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify at %s: %v", tt.now, err)
			}
			if diff := cmp.Diff(c, got); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
		})
	}
}

// An expired token with a bad signature is reported forged: the
// signature is checked first, so the claims of a forgery are never trusted.
func TestVerifyChecksSignatureBeforeExpiry(t *testing.T) {
	c := testClaims()
	tok := mustSign(t, testSigner(t, 2), c)
	_, err := testSigner(t, 1).Verify(tok, c.Expires.Add(time.Hour))
	if !errors.Is(err, ErrTokenForged) || errors.Is(err, ErrTokenExpired) {
		t.Errorf("Verify(expired forgery): %v, want ErrTokenForged only", err)
	}
}

func TestReadClaims(t *testing.T) {
	s := testSigner(t, 1)
	c := testClaims()
	// ReadClaims checks neither the signature nor the expiry.
	for name, tok := range map[string]string{
		"signed":                mustSign(t, s, c),
		"signed by another key": mustSign(t, testSigner(t, 9), c),
		"bad signature":         forge(mustJSON(t, c), []byte("not a mac")),
	} {
		got, err := ReadClaims(tok)
		if err != nil {
			t.Errorf("%s: ReadClaims: %v", name, err)
			continue
		}
		if diff := cmp.Diff(c, got); diff != "" {
			t.Errorf("%s: ReadClaims (-want +got):\n%s", name, diff)
		}
	}
	for name, tok := range map[string]string{
		"empty":             "",
		"no prefix":         "abc.def",
		"no signature":      TokenPrefix + b64.EncodeToString([]byte(mustJSON(t, c))),
		"not JSON":          forge("nope", nil),
		"no subject":        forge(`{"id":"x"}`, nil),
		"no id":             forge(`{"sub":"x"}`, nil),
		"bad signature b64": TokenPrefix + b64.EncodeToString([]byte(mustJSON(t, c))) + ".%%",
	} {
		if got, err := ReadClaims(tok); !errors.Is(err, ErrBadToken) {
			t.Errorf("%s: ReadClaims(%q) = %+v, %v; want ErrBadToken", name, tok, got, err)
		}
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTokenErrorsWrapErrBadToken(t *testing.T) {
	for _, err := range []error{ErrTokenExpired, ErrTokenForged, ErrTokenRevoked, ErrTokenUnknown} {
		if !errors.Is(err, ErrBadToken) || !IsCredentialError(err) {
			t.Errorf("%v does not wrap ErrBadToken", err)
		}
	}
	for _, err := range []error{nil, errors.New("disk on fire")} {
		if IsCredentialError(err) {
			t.Errorf("IsCredentialError(%v) = true", err)
		}
	}
}

func TestNewTokenID(t *testing.T) {
	re := regexp.MustCompile(`^tok_[0-9a-f]{16}$`)
	seen := map[string]bool{}
	for range 100 {
		id := NewTokenID()
		if !re.MatchString(id) {
			t.Fatalf("NewTokenID() = %q, want %s", id, re)
		}
		if seen[id] {
			t.Fatalf("NewTokenID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestNewSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s := NewSecret()
		b, err := b64.DecodeString(s)
		if err != nil || len(b) != 32 {
			t.Fatalf("NewSecret() = %q: %d bytes, %v; want 32 bytes of base64url", s, len(b), err)
		}
		if strings.ContainsAny(s, ".=+/ \n") {
			t.Fatalf("NewSecret() = %q: has a character a join token cannot carry", s)
		}
		if seen[s] {
			t.Fatalf("NewSecret() repeated %q", s)
		}
		seen[s] = true
		// Every secret makes a valid join token.
		if _, err := ParseJoinToken(JoinToken{Secret: s}.String()); err != nil {
			t.Fatalf("ParseJoinToken of a new secret: %v", err)
		}
	}
}

func TestParseJoinToken(t *testing.T) {
	secret := strings.Repeat("s", 32)
	ca := strings.Repeat("0123456789abcdef", 4)
	tests := []struct {
		name    string
		in      string
		want    JoinToken
		wantErr bool
	}{
		{name: "with CA", in: JoinPrefix + secret + "." + ca, want: JoinToken{Secret: secret, CA: ca}},
		{name: "upper-case CA", in: JoinPrefix + secret + "." + strings.ToUpper(ca), want: JoinToken{Secret: secret, CA: strings.ToUpper(ca)}},
		{name: "without CA", in: JoinPrefix + secret, want: JoinToken{Secret: secret}},
		{name: "without CA, trailing dot", in: JoinPrefix + secret + ".", want: JoinToken{Secret: secret}},
		{name: "surrounding space and newline", in: "  " + JoinPrefix + secret + "." + ca + "\n", want: JoinToken{Secret: secret, CA: ca}},
		{name: "long secret", in: JoinPrefix + strings.Repeat("x", 200), want: JoinToken{Secret: strings.Repeat("x", 200)}},
		{name: "base64url secret", in: JoinPrefix + "AbC-_" + secret, want: JoinToken{Secret: "AbC-_" + secret}},
		{name: "empty", in: "", wantErr: true},
		{name: "blank", in: " \n", wantErr: true},
		{name: "prefix only", in: JoinPrefix, wantErr: true},
		{name: "no prefix", in: secret + "." + ca, wantErr: true},
		{name: "user token prefix", in: TokenPrefix + secret + "." + ca, wantErr: true},
		{name: "upper-case prefix", in: strings.ToUpper(JoinPrefix) + secret, wantErr: true},
		{name: "short secret", in: JoinPrefix + secret[:31] + "." + ca, wantErr: true},
		{name: "short secret without CA", in: JoinPrefix + secret[:31], wantErr: true},
		{name: "empty secret", in: JoinPrefix + "." + ca, wantErr: true},
		{name: "CA one short", in: JoinPrefix + secret + "." + ca[:63], wantErr: true},
		{name: "CA one long", in: JoinPrefix + secret + "." + ca + "0", wantErr: true},
		{name: "CA as SHA-1", in: JoinPrefix + secret + "." + ca[:40], wantErr: true},
		{name: "two CAs", in: JoinPrefix + secret + "." + ca + "." + ca, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseJoinToken(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseJoinToken(%q) = %+v, want an error", tt.in, got)
				}
				if strings.Contains(err.Error(), secret[:31]) {
					t.Errorf("error %q repeats the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseJoinToken(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseJoinToken(%q) (-want +got):\n%s", tt.in, diff)
			}
			// The text form reads back the same.
			again, err := ParseJoinToken(got.String())
			if err != nil {
				t.Fatalf("ParseJoinToken(%q): %v", got.String(), err)
			}
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("round trip through String (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJoinTokenString(t *testing.T) {
	j := JoinToken{Secret: "abc", CA: "def"}
	if got, want := j.String(), "gpuqjoin_abc.def"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestJoinTokenMatches(t *testing.T) {
	secret := NewSecret()
	ca := strings.Repeat("ab", 32)
	mine := JoinToken{Secret: secret, CA: ca}
	tests := []struct {
		name      string
		presented JoinToken
		want      bool
	}{
		{name: "same", presented: mine, want: true},
		{name: "same secret, no CA", presented: JoinToken{Secret: secret}, want: true},
		{name: "same secret, other CA", presented: JoinToken{Secret: secret, CA: strings.Repeat("cd", 32)}, want: true},
		{name: "other secret", presented: JoinToken{Secret: NewSecret(), CA: ca}},
		{name: "secret one character longer", presented: JoinToken{Secret: secret + "x", CA: ca}},
		{name: "secret one character shorter", presented: JoinToken{Secret: secret[:len(secret)-1], CA: ca}},
		{name: "secret in upper case", presented: JoinToken{Secret: strings.ToUpper(secret), CA: ca}, want: strings.ToUpper(secret) == secret},
		{name: "empty secret", presented: JoinToken{CA: ca}},
		{name: "the CA as secret", presented: JoinToken{Secret: ca, CA: ca}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mine.Matches(tt.presented); got != tt.want {
				t.Errorf("Matches(%s) = %v, want %v", tt.name, got, tt.want)
			}
			if got := tt.presented.Matches(mine); got != tt.want {
				t.Errorf("Matches is not symmetric for %s", tt.name)
			}
		})
	}
}

func FuzzReadClaims(f *testing.F) {
	s := testSigner(f, 1)
	f.Add(mustSign(f, s, testClaims()))
	f.Add(mustSign(f, s, Claims{ID: "a", Subject: "b"}))
	f.Add(forge(`{"id":"x","sub":"y","teams":["a"],"role":"operator","exp":"2030-01-01T00:00:00Z"}`, []byte{1, 2, 3}))
	f.Add(forge(`{"id":"x"}`, nil))
	f.Add(forge(`null`, nil))
	f.Add(TokenPrefix + ".")
	f.Add("")
	f.Add("gpuq_")
	f.Add("gpuq_e30.e30")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := ReadClaims(tok)
		if err != nil {
			if !errors.Is(err, ErrBadToken) {
				t.Fatalf("ReadClaims(%q): %v does not wrap ErrBadToken", tok, err)
			}
			return
		}
		if !strings.HasPrefix(tok, TokenPrefix) || !strings.Contains(tok, ".") {
			t.Fatalf("ReadClaims(%q) accepted a token without prefix or signature", tok)
		}
		if c.ID == "" || c.Subject == "" {
			t.Fatalf("ReadClaims(%q) = %+v: no id or subject", tok, c)
		}
	})
}

// FuzzVerify: Verify never panics, and whatever it accepts carries claims
// this signer signed: re-signing them gives the very same claims text, and
// the expiry is after now.
func FuzzVerify(f *testing.F) {
	s := testSigner(f, 1)
	now := t0
	for _, c := range []Claims{
		testClaims(),
		{ID: "tok_1", Subject: "n1", Role: RoleNode, Expires: now.Add(time.Second)},
		{ID: "tok_2", Subject: "bob", Teams: []string{"ny"}, Role: RoleUser, Expires: now.Add(-time.Second)},
	} {
		f.Add(mustSign(f, s, c))
	}
	f.Add(mustSign(f, testSigner(f, 2), testClaims()))
	f.Add(forge(mustJSON(f, testClaims()), nil))
	f.Add("gpuq_.")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := s.Verify(tok, now)
		if err != nil {
			if !errors.Is(err, ErrBadToken) {
				t.Fatalf("Verify(%q): %v does not wrap ErrBadToken", tok, err)
			}
			return
		}
		if !now.Before(c.Expires) {
			t.Fatalf("Verify(%q) accepted a token that expired at %s", tok, c.Expires)
		}
		if c.ID == "" || c.Subject == "" {
			t.Fatalf("Verify(%q) = %+v: no id or subject", tok, c)
		}
		resigned := mustSign(t, s, c)
		gotPayload, _, _ := strings.Cut(tok, ".")
		wantPayload, _, _ := strings.Cut(resigned, ".")
		if gotPayload != wantPayload {
			t.Fatalf("Verify accepted claims %q that this signer would sign as %q", gotPayload, wantPayload)
		}
		if _, err := testSigner(t, 2).Verify(tok, now); !errors.Is(err, ErrTokenForged) {
			t.Fatalf("a token Verify accepted also verifies with another key: %v", err)
		}
	})
}

func FuzzParseJoinToken(f *testing.F) {
	ca := strings.Repeat("0123456789abcdef", 4)
	f.Add(JoinPrefix + NewSecret() + "." + ca)
	f.Add(JoinPrefix + NewSecret())
	f.Add(JoinPrefix + NewSecret() + ".")
	f.Add(JoinPrefix + "short." + ca)
	f.Add(" " + JoinPrefix + strings.Repeat("s", 32) + "." + ca + "\n")
	f.Add(JoinPrefix)
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		j, err := ParseJoinToken(s)
		if err != nil {
			return
		}
		if len(j.Secret) < 32 {
			t.Fatalf("ParseJoinToken(%q) accepted a secret of %d bytes", s, len(j.Secret))
		}
		if strings.Contains(j.Secret, ".") {
			t.Fatalf("ParseJoinToken(%q): secret %q holds a '.'", s, j.Secret)
		}
		if j.CA != "" && len(j.CA) != 64 {
			t.Fatalf("ParseJoinToken(%q): CA %q is not 64 characters", s, j.CA)
		}
		again, err := ParseJoinToken(j.String())
		if err != nil {
			t.Fatalf("ParseJoinToken(%q) = %+v, but its String %q does not parse: %v", s, j, j.String(), err)
		}
		if again != j {
			t.Fatalf("round trip: %+v, then %+v", j, again)
		}
		if !j.Matches(again) {
			t.Fatalf("a join token does not match itself")
		}
	})
}
