package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// TokenPrefix starts every user token gpuqd signs, so that a token pasted
// into the wrong place is recognisable (and secret scanners can find it).
const TokenPrefix = "gpuq_"

// Claims are what a token says about its holder. They are signed, not
// encrypted: anyone holding the token can read them.
type Claims struct {
	ID      string    `json:"id"`  // names the token in lists, revocations and logs
	Subject string    `json:"sub"` // the user
	Teams   []string  `json:"teams,omitempty"`
	Role    Role      `json:"role"`
	Issued  time.Time `json:"iat"`
	Expires time.Time `json:"exp"`
	// CA is the SHA-256 fingerprint of gpuqd's CA certificate (hex), so a
	// client holding only the token can check it talks to the right gpuqd.
	CA string `json:"ca,omitempty"`
}

// Token errors; each wraps ErrBadToken so callers can tell a credential
// problem from anything else.
var (
	ErrBadToken     = errors.New("invalid token")
	ErrTokenExpired = fmt.Errorf("%w: expired", ErrBadToken)
	ErrTokenForged  = fmt.Errorf("%w: signature does not match", ErrBadToken)
	ErrTokenRevoked = fmt.Errorf("%w: revoked", ErrBadToken)
	ErrTokenUnknown = fmt.Errorf("%w: not issued by this gpuqd", ErrBadToken)
)

// Signer signs and verifies tokens with a secret key (HMAC-SHA256): only
// gpuqd ever checks them, so the key never leaves it.
type Signer struct{ key []byte }

// KeySize is the length of a signing key.
const KeySize = 32

// NewSigner returns a Signer with key, which must be KeySize bytes.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("token key: %d bytes, want %d", len(key), KeySize)
	}
	return &Signer{key: append([]byte(nil), key...)}, nil
}

var b64 = base64.RawURLEncoding

// Sign returns the token for c: gpuq_<claims>.<signature>, both base64url.
func (s *Signer) Sign(c Claims) (string, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("token claims: %w", err)
	}
	payload := TokenPrefix + b64.EncodeToString(body)
	return payload + "." + b64.EncodeToString(s.mac(payload)), nil
}

func (s *Signer) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// Verify checks tok's signature and expiry at now and returns its claims.
// Revocation is the caller's business (it needs the store).
func (s *Signer) Verify(tok string, now time.Time) (Claims, error) {
	c, payload, sig, err := split(tok)
	if err != nil {
		return Claims{}, err
	}
	if !hmac.Equal(sig, s.mac(payload)) {
		return Claims{}, ErrTokenForged
	}
	if !now.Before(c.Expires) {
		return Claims{}, fmt.Errorf("%w at %s", ErrTokenExpired, c.Expires.UTC().Format(time.RFC3339))
	}
	return c, nil
}

// ReadClaims returns a token's claims without checking them: a client reads
// the CA fingerprint and expiry of its own token with it.
func ReadClaims(tok string) (Claims, error) {
	c, _, _, err := split(tok)
	return c, err
}

func split(tok string) (Claims, string, []byte, error) {
	var c Claims
	if !strings.HasPrefix(tok, TokenPrefix) {
		return c, "", nil, fmt.Errorf("%w: does not start with %q", ErrBadToken, TokenPrefix)
	}
	payload, sigText, ok := strings.Cut(tok, ".")
	if !ok {
		return c, "", nil, fmt.Errorf("%w: no signature", ErrBadToken)
	}
	body, err := b64.DecodeString(strings.TrimPrefix(payload, TokenPrefix))
	if err != nil || b64.EncodeToString(body) != strings.TrimPrefix(payload, TokenPrefix) {
		return c, "", nil, fmt.Errorf("%w: claims are not base64url", ErrBadToken)
	}
	sig, err := b64.DecodeString(sigText)
	if err != nil || b64.EncodeToString(sig) != sigText {
		// Only the canonical spelling: a token has one text.
		return c, "", nil, fmt.Errorf("%w: signature is not base64url", ErrBadToken)
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return c, "", nil, fmt.Errorf("%w: claims are not JSON", ErrBadToken)
	}
	if c.ID == "" || c.Subject == "" {
		return c, "", nil, fmt.Errorf("%w: no id or subject", ErrBadToken)
	}
	return c, payload, sig, nil
}

// NewTokenID returns a random token id ("tok_" and 16 hex digits).
func NewTokenID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "tok_" + hex.EncodeToString(b[:])
}

// JoinPrefix starts every node join token.
const JoinPrefix = "gpuqjoin_"

// JoinToken is what an operator hands to a new node: a secret, and the
// fingerprint of gpuqd's CA so the node can trust gpuqd before it has any
// certificate. Its text form is gpuqjoin_<secret>.<ca-sha256-hex>.
type JoinToken struct {
	Secret string
	CA     string
}

func (j JoinToken) String() string { return JoinPrefix + j.Secret + "." + j.CA }

// ParseJoinToken reads the text form; the CA part may be empty (a join
// over the unix socket needs none).
func ParseJoinToken(s string) (JoinToken, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, JoinPrefix) {
		return JoinToken{}, fmt.Errorf("join token: does not start with %q", JoinPrefix)
	}
	secret, ca, _ := strings.Cut(strings.TrimPrefix(s, JoinPrefix), ".")
	if len(secret) < 32 {
		return JoinToken{}, errors.New("join token: secret too short")
	}
	if _, err := hex.DecodeString(ca); ca != "" && (len(ca) != 64 || err != nil) {
		return JoinToken{}, errors.New("join token: CA fingerprint is not 64 hex digits")
	}
	return JoinToken{Secret: secret, CA: ca}, nil
}

// Matches reports, in constant time, whether presented holds this token's
// secret.
func (j JoinToken) Matches(presented JoinToken) bool {
	a, b := sha256.Sum256([]byte(j.Secret)), sha256.Sum256([]byte(presented.Secret))
	return hmac.Equal(a[:], b[:])
}

// NewSecret returns 32 random bytes as base64url.
func NewSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return b64.EncodeToString(b[:])
}
