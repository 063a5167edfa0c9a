package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/auth"
	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Registry is what the AuthService needs of the token registry.
type Registry interface {
	Issuer
	List(all bool, now time.Time) []*gpuqv1.TokenInfo
	Revoke(id string, now time.Time) (*gpuqv1.TokenInfo, error)
	RevokeCertificates(kind auth.Kind, name string, now time.Time) ([]string, error)
}

// AuthService implements gpuqv1.AuthServiceServer.
type AuthService struct {
	gpuqv1.UnimplementedAuthServiceServer
	opts AuthOptions
}

// AuthOptions are what the AuthService issues with.
type AuthOptions struct {
	Tokens Registry
	CA     *auth.CA // signs user certificates; nil: none are issued
	Teams  []string // the teams tokens and certificates may name
	// DefaultTTL is the lifetime of what a request gives none; MaxTTL
	// bounds user certificates (the registry bounds tokens).
	DefaultTTL, MaxTTL time.Duration
	Now                func() time.Time
}

// NewAuthService serves opts.
func NewAuthService(opts AuthOptions) *AuthService {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &AuthService{opts: opts}
}

func (s *AuthService) WhoAmI(ctx context.Context, _ *gpuqv1.WhoAmIRequest) (*gpuqv1.WhoAmIResponse, error) {
	id := auth.FromContext(ctx)
	if id == nil || id.Kind == auth.KindNone {
		return nil, fmt.Errorf("%w: no credentials", job.ErrUnauthenticated)
	}
	kind := "user"
	if id.Kind == auth.KindNode {
		kind = "node"
	}
	return &gpuqv1.WhoAmIResponse{Kind: kind, Name: id.Name, Role: string(id.Role), Teams: id.Teams,
		AdminOf: id.AdminOf, Method: string(id.Method), TokenId: id.TokenID}, nil
}

// grant checks what a token or certificate request asks for.
func (s *AuthService) grant(user, roleName string, teams []string, ttlSeconds int64) (auth.Role, time.Duration, error) {
	var inv job.InvalidError
	if user == "" || len(user) > 64 || strings.ContainsAny(user, "/?#&= \t\n") {
		inv.Add("user", "required: at most 64 characters, no spaces or any of /?#&=")
	}
	role, err := auth.ParseRole(roleName)
	if err != nil {
		inv.Add("role", "%v", err)
	}
	for i, t := range teams {
		if !slices.Contains(s.opts.Teams, t) {
			inv.Add(fmt.Sprintf("teams[%d]", i), "unknown team %q", t)
		}
	}
	if role == auth.RoleTeamAdmin && len(teams) == 0 {
		inv.Add("teams", "a team admin needs at least one team")
	}
	ttl := time.Duration(ttlSeconds) * time.Second
	if ttlSeconds < 0 {
		inv.Add("ttl_seconds", "must not be negative")
	}
	if ttl == 0 {
		ttl = s.opts.DefaultTTL
	}
	return role, ttl, inv.Err()
}

func (s *AuthService) CreateToken(ctx context.Context, req *gpuqv1.CreateTokenRequest) (*gpuqv1.CreateTokenResponse, error) {
	role, ttl, err := s.grant(req.User, req.Role, req.Teams, req.TtlSeconds)
	if err != nil {
		return nil, err
	}
	tok, info, err := s.opts.Tokens.Issue(req.User, role, req.Teams, ttl, auth.FromContext(ctx).String(), s.opts.Now())
	if err != nil {
		return nil, err
	}
	return &gpuqv1.CreateTokenResponse{Info: info, Token: tok}, nil
}

func (s *AuthService) ListTokens(_ context.Context, req *gpuqv1.ListTokensRequest) (*gpuqv1.ListTokensResponse, error) {
	return &gpuqv1.ListTokensResponse{Tokens: s.opts.Tokens.List(req.All, s.opts.Now())}, nil
}

func (s *AuthService) RevokeToken(_ context.Context, req *gpuqv1.RevokeTokenRequest) (*gpuqv1.RevokeTokenResponse, error) {
	if req.Id == "" {
		return nil, &job.FieldError{Field: "id", Problem: "required"}
	}
	info, err := s.opts.Tokens.Revoke(req.Id, s.opts.Now())
	if err != nil {
		return nil, err
	}
	return &gpuqv1.RevokeTokenResponse{Info: info}, nil
}

func (s *AuthService) CreateCertificate(_ context.Context, req *gpuqv1.CreateCertificateRequest) (*gpuqv1.CreateCertificateResponse, error) {
	role, ttl, err := s.grant(req.User, req.Role, req.Teams, req.TtlSeconds)
	if err != nil {
		return nil, err
	}
	if s.opts.MaxTTL > 0 && ttl > s.opts.MaxTTL {
		return nil, &job.FieldError{Field: "ttl_seconds", Problem: fmt.Sprintf("at most %s (security.max_token_ttl), got %s", s.opts.MaxTTL, ttl)}
	}
	if s.opts.CA == nil {
		return nil, fmt.Errorf("%w: this gpuqd has no CA", job.ErrUnavailable)
	}
	der, expires, err := s.opts.CA.SignUser(req.Csr, req.User, role, req.Teams, ttl, s.opts.Now())
	if err != nil {
		return nil, &job.FieldError{Field: "csr", Problem: err.Error()}
	}
	return &gpuqv1.CreateCertificateResponse{Certificate: der, CaCertificate: s.opts.CA.Cert.Raw, Expires: timestamppb.New(expires)}, nil
}

func (s *AuthService) RevokeCertificates(_ context.Context, req *gpuqv1.RevokeCertificatesRequest) (*gpuqv1.RevokeCertificatesResponse, error) {
	var kind auth.Kind
	switch req.Kind {
	case "node":
		kind = auth.KindNode
	case "user":
		kind = auth.KindUser
	default:
		return nil, &job.FieldError{Field: "kind", Problem: fmt.Sprintf("%q: want node or user", req.Kind)}
	}
	if req.Name == "" {
		return nil, &job.FieldError{Field: "name", Problem: "required"}
	}
	now := s.opts.Now()
	ids, err := s.opts.Tokens.RevokeCertificates(kind, req.Name, now)
	if err != nil {
		return nil, err
	}
	return &gpuqv1.RevokeCertificatesResponse{Revoked: timestamppb.New(now), TokenIds: ids}, nil
}
