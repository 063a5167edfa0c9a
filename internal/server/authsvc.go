package server

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/gpuq/gpuq/internal/auth"
	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Registry is what the AuthService needs of the token registry.
type Registry interface {
	Issuer
	List(all bool, now time.Time) []*gpuqv1.TokenInfo
	Revoke(id string, now time.Time) (*gpuqv1.TokenInfo, error)
}

// AuthService implements gpuqv1.AuthServiceServer.
type AuthService struct {
	gpuqv1.UnimplementedAuthServiceServer
	tokens     Registry
	teams      []string
	defaultTTL time.Duration
	now        func() time.Time
}

// NewAuthService issues tokens for members of teams, lasting defaultTTL
// unless a request asks otherwise.
func NewAuthService(tokens Registry, teams []string, defaultTTL time.Duration, now func() time.Time) *AuthService {
	if now == nil {
		now = time.Now
	}
	return &AuthService{tokens: tokens, teams: teams, defaultTTL: defaultTTL, now: now}
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

func (s *AuthService) CreateToken(ctx context.Context, req *gpuqv1.CreateTokenRequest) (*gpuqv1.CreateTokenResponse, error) {
	var inv job.InvalidError
	if req.User == "" || len(req.User) > 64 {
		inv.Add("user", "required, at most 64 characters")
	}
	role, err := auth.ParseRole(req.Role)
	if err != nil {
		inv.Add("role", "%v", err)
	}
	for i, t := range req.Teams {
		if !slices.Contains(s.teams, t) {
			inv.Add(fmt.Sprintf("teams[%d]", i), "unknown team %q", t)
		}
	}
	if role == auth.RoleTeamAdmin && len(req.Teams) == 0 {
		inv.Add("teams", "a team admin needs at least one team")
	}
	ttl := time.Duration(req.TtlSeconds) * time.Second
	if req.TtlSeconds < 0 {
		inv.Add("ttl_seconds", "must not be negative")
	}
	if ttl == 0 {
		ttl = s.defaultTTL
	}
	if err := inv.Err(); err != nil {
		return nil, err
	}
	tok, info, err := s.tokens.Issue(req.User, role, req.Teams, ttl, auth.FromContext(ctx).String(), s.now())
	if err != nil {
		return nil, err
	}
	return &gpuqv1.CreateTokenResponse{Info: info, Token: tok}, nil
}

func (s *AuthService) ListTokens(_ context.Context, req *gpuqv1.ListTokensRequest) (*gpuqv1.ListTokensResponse, error) {
	return &gpuqv1.ListTokensResponse{Tokens: s.tokens.List(req.All, s.now())}, nil
}

func (s *AuthService) RevokeToken(_ context.Context, req *gpuqv1.RevokeTokenRequest) (*gpuqv1.RevokeTokenResponse, error) {
	if req.Id == "" {
		return nil, &job.FieldError{Field: "id", Problem: "required"}
	}
	info, err := s.tokens.Revoke(req.Id, s.now())
	if err != nil {
		return nil, err
	}
	return &gpuqv1.RevokeTokenResponse{Info: info}, nil
}
