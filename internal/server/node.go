package server

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/auth"
	"github.com/gpuq/gpuq/internal/ident"
	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/queue"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Nodes is what the NodeService and the node RPCs of the QueueService need
// of the queue.
type Nodes interface {
	RegisterNode(info *gpuqv1.NodeInfo, running []*gpuqv1.RunningJob, finished []*gpuqv1.JobUpdate) (*gpuqv1.RegisterNodeResponse, error)
	AttachSession(name, session string) (<-chan *gpuqv1.ControllerMessage, func(), error)
	Heartbeat(name, session string) error
	JobUpdates(name string, us []*gpuqv1.JobUpdate) error
	Nodes() []queue.NodeView
	SetNodeState(name string, s queue.NodeState, reason string) error
}

var _ Nodes = (*queue.Queue)(nil)

// NodeService implements gpuqv1.NodeServiceServer.
type NodeService struct {
	gpuqv1.UnimplementedNodeServiceServer
	n    Nodes
	opts NodeOptions
}

// Issuer is what JoinNode and RenewCredentials need to hand a node its
// credentials (auth.Registry).
type Issuer interface {
	Issue(subject string, role auth.Role, teams []string, ttl time.Duration, by string, now time.Time) (string, *gpuqv1.TokenInfo, error)
	RenewNode(id *auth.Identity, now time.Time) (string, *gpuqv1.TokenInfo, error)
}

// NodeOptions are what JoinNode needs; without a CA or join token nodes
// cannot join.
type NodeOptions struct {
	CA     *auth.CA
	Join   auth.JoinToken
	Tokens Issuer
	// Joined reports whether a node of that name has joined and has not
	// been revoked since; such a name cannot be joined again, so that the
	// join token (on every node) does not let one node become another.
	Joined func(name string, now time.Time) bool
	Now    func() time.Time
}

// NewNodeService serves n.
func NewNodeService(n Nodes, opts NodeOptions) *NodeService {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &NodeService{n: n, opts: opts}
}

// JoinNode checks the join token and hands the node a client certificate
// for its own key and a node token.
func (s *NodeService) JoinNode(_ context.Context, req *gpuqv1.JoinNodeRequest) (*gpuqv1.JoinNodeResponse, error) {
	if !ident.Name(req.Node) {
		return nil, &job.FieldError{Field: "node", Problem: "want letters, digits, '.', '_' or '-', at most 64"}
	}
	if s.opts.CA == nil || s.opts.Join.Secret == "" || s.opts.Tokens == nil {
		return nil, fmt.Errorf("%w: this gpuqd has no join token (run gpuqd init)", job.ErrPermissionDenied)
	}
	presented, err := auth.ParseJoinToken(req.JoinToken)
	if err != nil {
		return nil, fmt.Errorf("%w: node %s: %w", job.ErrUnauthenticated, req.Node, err)
	}
	if !s.opts.Join.Matches(presented) {
		return nil, fmt.Errorf("%w: node %s presented a wrong join token", job.ErrUnauthenticated, req.Node)
	}
	now := s.opts.Now()
	if s.opts.Joined != nil && s.opts.Joined(req.Node, now) {
		return nil, fmt.Errorf("%w: node %s has joined already; to join it again an operator revokes it first (gpuqctl cert revoke --node %s)",
			job.ErrPermissionDenied, req.Node, req.Node)
	}
	cert, err := s.opts.CA.SignNode(req.Csr, req.Node, now)
	if err != nil {
		return nil, &job.FieldError{Field: "csr", Problem: err.Error()}
	}
	tok, _, err := s.opts.Tokens.Issue(req.Node, auth.RoleNode, nil, auth.NodeValidity, "join token", now)
	if err != nil {
		return nil, err
	}
	return &gpuqv1.JoinNodeResponse{Certificate: cert, CaCertificate: s.opts.CA.Cert.Raw, NodeToken: tok}, nil
}

// RenewCredentials signs a new certificate and issues a new node token
// for the calling node, which the Guard has authenticated by a certificate
// or token not revoked: credentials for its own name only, from half of
// the presented credential's lifetime on (so a stolen credential is not
// extended again and again, nor the token records grown), for the key of
// the presented certificate when it presented one. The certificate is
// signed before the registry checks the credential again and issues the
// token under its lock, so a revocation in between wins.
func (s *NodeService) RenewCredentials(ctx context.Context, req *gpuqv1.RenewCredentialsRequest) (*gpuqv1.RenewCredentialsResponse, error) {
	id := auth.FromContext(ctx)
	if id == nil || id.Kind != auth.KindNode {
		return nil, fmt.Errorf("%w: only a node renews its credentials", job.ErrPermissionDenied)
	}
	if s.opts.CA == nil || s.opts.Tokens == nil {
		return nil, fmt.Errorf("%w: this gpuqd has no CA (run gpuqd init)", job.ErrPermissionDenied)
	}
	now := s.opts.Now()
	if from := id.Issued.Add(auth.NodeValidity / 2); now.Before(from) {
		return nil, fmt.Errorf("%w: node %s's credentials were issued at %s and can be renewed from %s", job.ErrInvalidState,
			id.Name, id.Issued.UTC().Format(time.RFC3339), from.UTC().Format(time.RFC3339))
	}
	csr, err := x509.ParseCertificateRequest(req.Csr)
	if err == nil {
		err = csr.CheckSignature()
	}
	if err != nil {
		return nil, &job.FieldError{Field: "csr", Problem: err.Error()}
	}
	if key, ok := id.Key.(interface{ Equal(crypto.PublicKey) bool }); id.Key != nil && (!ok || !key.Equal(csr.PublicKey)) {
		return nil, &job.FieldError{Field: "csr", Problem: "not for the key of the certificate presented"}
	}
	cert, err := s.opts.CA.SignNode(req.Csr, id.Name, now)
	if err != nil {
		return nil, &job.FieldError{Field: "csr", Problem: err.Error()}
	}
	tok, _, err := s.opts.Tokens.RenewNode(id, now)
	if auth.IsCredentialError(err) || errors.Is(err, auth.ErrCertRevoked) {
		return nil, fmt.Errorf("%w: %w", job.ErrUnauthenticated, err)
	}
	if err != nil {
		return nil, fmt.Errorf("renew node %s's token: %w", id.Name, err)
	}
	return &gpuqv1.RenewCredentialsResponse{Certificate: cert, CaCertificate: s.opts.CA.Cert.Raw, NodeToken: tok}, nil
}

func (s *NodeService) RegisterNode(ctx context.Context, req *gpuqv1.RegisterNodeRequest) (*gpuqv1.RegisterNodeResponse, error) {
	if req.GetNode().GetName() == "" {
		return nil, &job.FieldError{Field: "node.name", Problem: "required"}
	}
	if err := auth.RequireNode(auth.FromContext(ctx), req.GetNode().GetName()); err != nil {
		return nil, err
	}
	return s.n.RegisterNode(req.Node, req.Running, req.Finished)
}

// Session serves one node's stream: the first message says who it is; then
// heartbeats and job updates flow in while assignments and stop orders flow
// out, until either side ends it.
func (s *NodeService) Session(stream gpuqv1.NodeService_SessionServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	hello := first.GetHello()
	if hello == nil {
		return &job.FieldError{Field: "hello", Problem: "the first message of a session must be a hello"}
	}
	if hello.Node == "" {
		return &job.FieldError{Field: "hello.node", Problem: "required"}
	}
	if err := auth.RequireNode(auth.FromContext(stream.Context()), hello.Node); err != nil {
		return err
	}
	out, detach, err := s.n.AttachSession(hello.Node, hello.SessionId)
	if err != nil {
		return err
	}
	defer detach()
	errc := make(chan error, 2)
	updates := make(chan *gpuqv1.JobUpdate, updateBuffer)
	go func() {
		errc <- s.receive(hello, stream, updates)
		close(updates)
	}()
	go s.apply(hello.Node, updates, errc)
	for {
		select {
		case m, ok := <-out:
			if !ok {
				return job.ErrUnavailable // replaced by a newer session, or the node went down
			}
			if err := stream.Send(m); err != nil {
				return err
			}
		case err := <-errc:
			return err
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}

// Job updates wait in a session's buffer, at most updateBuffer of them,
// while earlier ones are stored; they are stored in batches of at most
// maxUpdateBatch.
const (
	updateBuffer   = 1024
	maxUpdateBatch = 1024
)

// receive reads a node's messages: heartbeats, and job updates that it
// hands to apply through updates.
func (s *NodeService) receive(hello *gpuqv1.SessionHello, stream gpuqv1.NodeService_SessionServer, updates chan<- *gpuqv1.JobUpdate) error {
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch x := m.Msg.(type) {
		case *gpuqv1.NodeMessage_Heartbeat:
			err = s.n.Heartbeat(hello.Node, hello.SessionId)
		case *gpuqv1.NodeMessage_JobUpdate:
			if err = s.n.Heartbeat(hello.Node, hello.SessionId); err == nil {
				updates <- x.JobUpdate
			}
		}
		if err != nil {
			return err
		}
	}
}

// apply stores a node's job updates in order, all those waiting in one
// batch (one sync), until updates is closed. The first error goes to errc,
// which ends the session; the updates after it are dropped, and the node
// reports its runs again when it registers.
func (s *NodeService) apply(node string, updates <-chan *gpuqv1.JobUpdate, errc chan<- error) {
	failed := false
	batch := make([]*gpuqv1.JobUpdate, 0, maxUpdateBatch)
	for u := range updates {
		if failed {
			continue
		}
		batch = append(batch[:0], u)
	fill:
		for len(batch) < maxUpdateBatch {
			select {
			case u, ok := <-updates:
				if !ok {
					break fill
				}
				batch = append(batch, u)
			default:
				break fill
			}
		}
		if err := s.n.JobUpdates(node, batch); err != nil {
			failed = true
			errc <- err
		}
	}
}

var nodeStates = map[queue.NodeState]gpuqv1.NodeState{
	queue.NodeUp:    gpuqv1.NodeState_NODE_STATE_UP,
	queue.NodeDown:  gpuqv1.NodeState_NODE_STATE_DOWN,
	queue.NodeDrain: gpuqv1.NodeState_NODE_STATE_DRAIN,
}

func (s *QueueService) ListNodes(context.Context, *gpuqv1.ListNodesRequest) (*gpuqv1.ListNodesResponse, error) {
	views := s.nodes.Nodes()
	out := make([]*gpuqv1.Node, len(views))
	for i, v := range views {
		n := &gpuqv1.Node{Info: v.Info, State: nodeStates[v.State], Reason: v.Reason,
			LastSeen: timestamppb.New(v.LastSeen), Connected: v.Connected, AllocatedGpus: uint32(v.UsedGPUs)}
		for _, r := range v.Jobs {
			n.Jobs = append(n.Jobs, r.Proto())
		}
		out[i] = n
	}
	return &gpuqv1.ListNodesResponse{Nodes: out}, nil
}

func (s *QueueService) DrainNode(_ context.Context, req *gpuqv1.DrainNodeRequest) (*gpuqv1.DrainNodeResponse, error) {
	reason := req.Reason
	if reason == "" {
		reason = "drained by an operator"
	}
	return &gpuqv1.DrainNodeResponse{}, s.nodes.SetNodeState(req.Name, queue.NodeDrain, reason)
}

func (s *QueueService) ResumeNode(_ context.Context, req *gpuqv1.ResumeNodeRequest) (*gpuqv1.ResumeNodeResponse, error) {
	return &gpuqv1.ResumeNodeResponse{}, s.nodes.SetNodeState(req.Name, queue.NodeUp, "")
}
