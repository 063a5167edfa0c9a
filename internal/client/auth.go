package client

import (
	"context"
	"time"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// WhoAmI returns the caller's identity as gpuqd sees it.
func (c *Client) WhoAmI(ctx context.Context) (*gpuqv1.WhoAmIResponse, error) {
	resp, err := c.authz.WhoAmI(ctx, &gpuqv1.WhoAmIRequest{})
	return resp, c.err(err)
}

// CreateToken issues a token for user (operators only); ttl 0 is gpuqd's
// default.
func (c *Client) CreateToken(ctx context.Context, user, role string, teams []string, ttl time.Duration) (*gpuqv1.CreateTokenResponse, error) {
	resp, err := c.authz.CreateToken(ctx, &gpuqv1.CreateTokenRequest{User: user, Role: role, Teams: teams, TtlSeconds: int64(ttl / time.Second)})
	return resp, c.err(err)
}

// ListTokens lists the issued tokens; all includes revoked and expired ones.
func (c *Client) ListTokens(ctx context.Context, all bool) ([]*gpuqv1.TokenInfo, error) {
	resp, err := c.authz.ListTokens(ctx, &gpuqv1.ListTokensRequest{All: all})
	return resp.GetTokens(), c.err(err)
}

// RevokeToken revokes the token with id.
func (c *Client) RevokeToken(ctx context.Context, id string) (*gpuqv1.TokenInfo, error) {
	resp, err := c.authz.RevokeToken(ctx, &gpuqv1.RevokeTokenRequest{Id: id})
	return resp.GetInfo(), c.err(err)
}

// JoinNode presents the join token and a certificate request for node.
func (c *Client) JoinNode(ctx context.Context, node, joinToken string, csr []byte) (*gpuqv1.JoinNodeResponse, error) {
	resp, err := gpuqv1.NewNodeServiceClient(c.conn).JoinNode(ctx, &gpuqv1.JoinNodeRequest{Node: node, JoinToken: joinToken, Csr: csr})
	return resp, c.err(err)
}

// RenewCredentials has gpuqd sign a new certificate for the calling node's
// certificate request and issue it a new node token.
func (c *Client) RenewCredentials(ctx context.Context, csr []byte) (*gpuqv1.RenewCredentialsResponse, error) {
	resp, err := gpuqv1.NewNodeServiceClient(c.conn).RenewCredentials(ctx, &gpuqv1.RenewCredentialsRequest{Csr: csr})
	return resp, c.err(err)
}

// CreateCertificate has gpuqd sign a user's certificate request
// (operators only); ttl 0 is gpuqd's default.
func (c *Client) CreateCertificate(ctx context.Context, user, role string, teams []string, ttl time.Duration, csr []byte) (*gpuqv1.CreateCertificateResponse, error) {
	resp, err := c.authz.CreateCertificate(ctx, &gpuqv1.CreateCertificateRequest{User: user, Role: role, Teams: teams,
		TtlSeconds: int64(ttl / time.Second), Csr: csr})
	return resp, c.err(err)
}

// RevokeCertificates revokes every certificate issued so far to the node or
// user (kind "node" or "user"), and a node's tokens.
func (c *Client) RevokeCertificates(ctx context.Context, kind, name string) (*gpuqv1.RevokeCertificatesResponse, error) {
	resp, err := c.authz.RevokeCertificates(ctx, &gpuqv1.RevokeCertificatesRequest{Kind: kind, Name: name})
	return resp, c.err(err)
}
