package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/gpuq/gpuq/internal/auth"
	"github.com/gpuq/gpuq/internal/job"
)

// Access is what a method asks of its caller before its handler runs; the
// handlers check the resources themselves (whose job, which team).
type Access int

// The access levels of methods.
const (
	AccessDenied   Access = iota // no rule: refused (fail closed)
	AccessPublic                 // anyone, even unauthenticated
	AccessUser                   // an authenticated user
	AccessOperator               // an operator
	AccessNode                   // a node daemon
	AccessAny                    // any authenticated principal
)

// Methods is every RPC's access level. A method missing here is refused.
var Methods = map[string]Access{
	"/grpc.health.v1.Health/Check": AccessPublic,
	"/grpc.health.v1.Health/Watch": AccessPublic,
	"/grpc.health.v1.Health/List":  AccessPublic,

	"/gpuq.v1.QueueService/SubmitJob":   AccessUser,
	"/gpuq.v1.QueueService/ListJobs":    AccessUser,
	"/gpuq.v1.QueueService/GetJob":      AccessUser,
	"/gpuq.v1.QueueService/CancelJobs":  AccessUser,
	"/gpuq.v1.QueueService/HoldJobs":    AccessUser,
	"/gpuq.v1.QueueService/ReleaseJobs": AccessUser,
	"/gpuq.v1.QueueService/ListNodes":   AccessUser,
	"/gpuq.v1.QueueService/DrainNode":   AccessOperator,
	"/gpuq.v1.QueueService/ResumeNode":  AccessOperator,
	"/gpuq.v1.QueueService/Priority":    AccessUser,
	"/gpuq.v1.QueueService/Shares":      AccessUser,

	"/gpuq.v1.AccountingService/ListRecords": AccessUser,
	"/gpuq.v1.AccountingService/CostReport":  AccessUser,
	"/gpuq.v1.AccountingService/Budgets":     AccessUser,

	"/gpuq.v1.AccountingService/ListBudgetAlerts":  AccessUser,
	"/gpuq.v1.AccountingService/SetBudget":         AccessOperator,
	"/gpuq.v1.AccountingService/UtilizationReport": AccessUser,

	"/gpuq.v1.NodeService/JoinNode":         AccessPublic, // the handler checks the join token
	"/gpuq.v1.NodeService/RegisterNode":     AccessNode,
	"/gpuq.v1.NodeService/RenewCredentials": AccessNode,
	"/gpuq.v1.NodeService/Session":          AccessNode,

	"/gpuq.v1.AuthService/WhoAmI":      AccessAny,
	"/gpuq.v1.AuthService/CreateToken": AccessOperator,
	"/gpuq.v1.AuthService/ListTokens":  AccessOperator,
	"/gpuq.v1.AuthService/RevokeToken": AccessOperator,

	"/gpuq.v1.AuthService/CreateCertificate":  AccessOperator,
	"/gpuq.v1.AuthService/RevokeCertificates": AccessOperator,
}

// readOnly methods are not written to the audit log when allowed.
var readOnly = map[string]bool{
	"/gpuq.v1.QueueService/ListJobs": true, "/gpuq.v1.QueueService/GetJob": true,
	"/gpuq.v1.QueueService/ListNodes": true, "/gpuq.v1.QueueService/Priority": true,
	"/gpuq.v1.QueueService/Shares": true, "/gpuq.v1.AccountingService/ListRecords": true,
	"/gpuq.v1.AccountingService/CostReport": true, "/gpuq.v1.AccountingService/Budgets": true,
	"/gpuq.v1.AccountingService/ListBudgetAlerts": true, "/gpuq.v1.AccountingService/UtilizationReport": true,
	"/gpuq.v1.AuthService/WhoAmI": true, "/gpuq.v1.AuthService/ListTokens": true,
	"/gpuq.v1.NodeService/Session": true,
	"/grpc.health.v1.Health/Check": true, "/grpc.health.v1.Health/Watch": true, "/grpc.health.v1.Health/List": true,
}

// Tokens checks bearer tokens, and client certificates against their
// principals' revocations.
type Tokens interface {
	Check(tok string, now time.Time) (auth.Claims, error)
	CheckCert(id *auth.Identity, issued time.Time) error
}

// Guard authenticates every request, applies Methods, and writes refusals
// and changes to the audit log.
type Guard struct {
	Tokens    Tokens
	Directory *auth.Directory // peer credentials on the unix socket
	Audit     *auth.Audit
	Now       func() time.Time
	Log       *slog.Logger
}

// Identify returns the caller of ctx: by bearer token, by client
// certificate, or by peer credentials; an anonymous identity when it
// presents none. A credential that does not check out is an error.
func (g *Guard) Identify(ctx context.Context) (*auth.Identity, error) {
	if tok := bearer(ctx); tok != "" {
		c, err := g.Tokens.Check(tok, g.Now())
		if err != nil {
			return nil, fmt.Errorf("%w: %w", job.ErrUnauthenticated, err)
		}
		id := &auth.Identity{Kind: auth.KindUser, Name: c.Subject, Role: c.Role, Teams: c.Teams, Method: auth.MethodToken, TokenID: c.ID,
			Issued: c.Issued}
		switch c.Role {
		case auth.RoleNode:
			id.Kind, id.Role, id.Teams = auth.KindNode, "", nil
		case auth.RoleTeamAdmin:
			id.AdminOf = c.Teams
		case auth.RoleUser, auth.RoleOperator:
		default:
			return nil, fmt.Errorf("%w: token %s has an unknown role %q", job.ErrUnauthenticated, c.ID, c.Role)
		}
		return id, nil
	}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return &auth.Identity{}, nil
	}
	switch info := p.AuthInfo.(type) {
	case credentials.TLSInfo:
		if len(info.State.VerifiedChains) == 0 || len(info.State.PeerCertificates) == 0 {
			return &auth.Identity{}, nil
		}
		cert := info.State.PeerCertificates[0]
		id, err := auth.IdentityFromCert(cert)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", job.ErrUnauthenticated, err)
		}
		id.Issued, id.Key = auth.CertIssued(cert), cert.PublicKey
		if g.Tokens != nil {
			if err := g.Tokens.CheckCert(id, id.Issued); err != nil {
				return nil, fmt.Errorf("%w: %w", job.ErrUnauthenticated, err)
			}
		}
		return id, nil
	case auth.PeerCred:
		if g.Directory == nil {
			return &auth.Identity{}, nil
		}
		id, err := g.Directory.ByUID(info.UID)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", job.ErrUnauthenticated, err)
		}
		return id, nil
	}
	return &auth.Identity{}, nil
}

// bearer is the token of an "authorization: Bearer <token>" header.
func bearer(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if t, ok := strings.CutPrefix(v, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
	}
	return ""
}

// admit authenticates the caller of method and applies its access level.
func (g *Guard) admit(ctx context.Context, method string) (*auth.Identity, error) {
	id, err := g.Identify(ctx)
	if err != nil {
		return nil, err
	}
	switch Methods[method] {
	case AccessPublic:
		return id, nil
	case AccessUser:
		return id, auth.RequireUser(id)
	case AccessOperator:
		return id, auth.RequireOperator(id)
	case AccessNode:
		return id, auth.RequireNode(id, "")
	case AccessAny:
		if id.Kind == auth.KindNone {
			return id, fmt.Errorf("%w: present a token or certificate", job.ErrUnauthenticated)
		}
		return id, nil
	}
	return id, fmt.Errorf("%w: %s has no authorisation rule", job.ErrPermissionDenied, method)
}

// record writes the outcome of a request to the audit log: every refusal,
// and every allowed request that changes something.
func (g *Guard) record(ctx context.Context, method string, id *auth.Identity, err error) {
	denied := errors.Is(err, job.ErrPermissionDenied) || errors.Is(err, job.ErrUnauthenticated)
	if !denied && (err != nil || readOnly[method]) {
		return
	}
	e := auth.Event{Method: method, Principal: id, Allowed: !denied, Detail: "ok"}
	if denied {
		e.Detail = err.Error()
		orDiscard(g.Log).Warn("request refused", "rpc", method, "principal", id.String(), "err", err)
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		e.Peer = p.Addr.String()
	}
	g.Audit.Record(e)
}

// Unary is the guard's unary interceptor; put it after UnaryErrors.
func (g *Guard) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		id, err := g.admit(ctx, info.FullMethod)
		if err != nil {
			g.record(ctx, info.FullMethod, id, err)
			return nil, err
		}
		resp, err := h(auth.NewContext(ctx, id), req)
		g.record(ctx, info.FullMethod, id, err)
		return resp, err
	}
}

// Stream is the guard's stream interceptor; put it after StreamErrors.
func (g *Guard) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		ctx := ss.Context()
		id, err := g.admit(ctx, info.FullMethod)
		if err != nil {
			g.record(ctx, info.FullMethod, id, err)
			return err
		}
		err = h(srv, &identityStream{ServerStream: ss, ctx: auth.NewContext(ctx, id)})
		g.record(ctx, info.FullMethod, id, err)
		return err
	}
}

type identityStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *identityStream) Context() context.Context { return s.ctx }
