package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gpuq/gpuq/internal/auth"
	"github.com/gpuq/gpuq/internal/job"
)

// Security is how a client proves who it is to gpuqd and how it knows it
// talks to the right gpuqd. On a unix socket the kernel tells gpuqd the
// caller's uid and nothing here is needed (a token, when set, is still sent
// and wins); on TCP gpuqd serves TLS.
type Security struct {
	// Token is a bearer token gpuqd signed (gpuqctl login stores one).
	Token string
	// Roots are the CAs to trust; nil: the CA whose fingerprint is CAPin,
	// or failing that the one named in Token's claims.
	Roots *x509.CertPool
	CAPin string
	// Certificate is a client certificate to present (nodes).
	Certificate *tls.Certificate
	// Renewable, when set, holds the certificate and token instead, read at
	// each handshake and call: a node replaces them when it renews them.
	Renewable *Renewable
	// Insecure speaks plaintext TCP: only for gpuqd's insecure loopback mode.
	Insecure bool
}

// dialOptions turns s into gRPC dial options for target.
func (s Security) dialOptions(target string) ([]grpc.DialOption, error) {
	var opts []grpc.DialOption
	switch {
	case s.Renewable != nil:
		opts = append(opts, grpc.WithPerRPCCredentials(s.Renewable))
	case s.Token != "":
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(s.Token)))
	}
	if s.Insecure || IsUnix(target) {
		return append(opts, grpc.WithTransportCredentials(insecure.NewCredentials())), nil
	}
	pin := s.CAPin
	if s.Roots == nil && pin == "" && s.Token != "" {
		if c, err := auth.ReadClaims(s.Token); err == nil {
			pin = c.CA
		}
	}
	if s.Roots == nil && pin == "" {
		return nil, &job.InvalidError{Fields: []job.FieldError{{Field: "ca",
			Problem: fmt.Sprintf("gpuqd at %s serves TLS: give its CA certificate (--ca or GPUQ_CA), or log in with a token (gpuqctl login)", target)}}}
	}
	var cert func() *tls.Certificate
	switch {
	case s.Renewable != nil:
		cert = s.Renewable.Certificate
	case s.Certificate != nil:
		cert = func() *tls.Certificate { return s.Certificate }
	}
	cfg, err := auth.ClientTLS(serverName(target), s.Roots, pin, cert)
	if err != nil {
		return nil, &job.InvalidError{Fields: []job.FieldError{{Field: "ca", Problem: err.Error()}}}
	}
	return append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg))), nil
}

// IsUnix reports whether a target (as Dial takes it) is a unix socket.
func IsUnix(target string) bool {
	return strings.HasPrefix(grpcTarget(target), "unix")
}

// serverName is the host the server's certificate must name.
func serverName(target string) string {
	t := grpcTarget(target)
	if i := strings.Index(t, "://"); i >= 0 {
		t = t[i+3:]
		t = t[strings.LastIndex(t, "/")+1:]
	}
	if h, _, err := net.SplitHostPort(t); err == nil {
		return h
	}
	return t
}

// Renewable holds credentials a long-running client replaces while its
// connections stay open: the client certificate presented at each TLS
// handshake, and the bearer token sent with each call (when not empty).
// Its methods are safe for concurrent use.
type Renewable struct {
	cert  atomic.Pointer[tls.Certificate]
	token atomic.Pointer[string]
}

// NewRenewable holds cert (may be nil) and token (may be empty).
func NewRenewable(cert *tls.Certificate, token string) *Renewable {
	r := &Renewable{}
	r.Set(cert, token)
	return r
}

// Set replaces both.
func (r *Renewable) Set(cert *tls.Certificate, token string) {
	r.cert.Store(cert)
	r.token.Store(&token)
}

// Certificate is the certificate to present now.
func (r *Renewable) Certificate() *tls.Certificate { return r.cert.Load() }

// Token is the token to send now.
func (r *Renewable) Token() string { return *r.token.Load() }

// GetRequestMetadata sends the token, if any.
func (r *Renewable) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	if t := r.Token(); t != "" {
		return bearer(t).GetRequestMetadata(ctx)
	}
	return nil, nil
}

// RequireTransportSecurity: as bearer's.
func (*Renewable) RequireTransportSecurity() bool { return false }

// bearer sends a token with every call.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false because the unix socket (and the
// insecure loopback mode) carry tokens too; Dial never sends one over
// plaintext TCP unless told Insecure.
func (bearer) RequireTransportSecurity() bool { return false }
