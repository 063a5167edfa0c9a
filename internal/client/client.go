package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/connectivity"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// DefaultTarget is where gpuqd listens unless told otherwise.
const DefaultTarget = "unix:///run/gpuq/gpuqd.sock"

// EnvServer names the environment variable that overrides DefaultTarget.
const EnvServer = "GPUQ_SERVER"

// Target returns the address to dial: target when it is set, else the value
// of GPUQ_SERVER as getenv reports it, else DefaultTarget.
func Target(target string, getenv func(string) string) string {
	if target != "" {
		return target
	}
	if getenv != nil {
		if v := getenv(EnvServer); v != "" {
			return v
		}
	}
	return DefaultTarget
}

// Client calls gpuqd's QueueService and AccountingService. It is safe for
// concurrent use.
type Client struct {
	target string
	conn   *grpc.ClientConn
	rpc    gpuqv1.QueueServiceClient
	acct   gpuqv1.AccountingServiceClient
	authz  gpuqv1.AuthServiceClient

	mu      sync.Mutex
	dialErr error // outcome of the latest connection attempt
}

// Dial returns a client of the gpuqd at target without connecting: the first
// call connects. target is "unix:///path/to.sock", a path ("/run/gpuq/gpuqd.sock",
// or a relative one without a colon), "host:port", or any other gRPC target
// with a scheme ("dns:///host:port"). An empty target means Target("", os.Getenv).
// sec says how to authenticate (see Security); TCP targets are spoken to
// over TLS. opts are appended to the client's own dial options; tests use
// them.
//
// A target that cannot be parsed is a *job.InvalidError for the field
// "server"; TCP without a CA to trust is one for the field "ca".
func Dial(target string, sec Security, opts ...grpc.DialOption) (*Client, error) {
	target = Target(target, os.Getenv)
	c := &Client{target: target}
	secOpts, err := sec.dialOptions(target)
	if err != nil {
		return nil, err
	}
	dopts := []grpc.DialOption{
		grpc.WithContextDialer(c.dial),
		// A queue of 100,000 jobs is a few tens of MB; gpuqd sends up to 256 MiB.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256 << 20)),
		// A command-line client waits for a restarting daemon in short steps.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 3 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
	}
	dopts = append(dopts, secOpts...)
	conn, err := grpc.NewClient(grpcTarget(target), append(dopts, opts...)...)
	if err != nil {
		return nil, &job.InvalidError{Fields: []job.FieldError{{Field: "server", Problem: fmt.Sprintf("address %q: %v", target, err)}}}
	}
	c.conn = conn
	c.rpc = gpuqv1.NewQueueServiceClient(conn)
	c.acct = gpuqv1.NewAccountingServiceClient(conn)
	c.authz = gpuqv1.NewAuthServiceClient(conn)
	return c, nil
}

// grpcTarget turns the addresses users type into gRPC targets.
func grpcTarget(target string) string {
	switch {
	case strings.Contains(target, "://"), strings.HasPrefix(target, "unix:"), strings.HasPrefix(target, "unix-abstract:"):
		return target
	case strings.HasPrefix(target, "/"):
		return "unix://" + target
	case !strings.Contains(target, ":"):
		// A relative socket path: host names need a port.
		return "unix:" + target
	}
	return target
}

// dial connects to one resolved address and remembers the outcome, so that a
// failed call can say why gpuqd could not be reached. With a custom dialer
// gRPC hands over unix addresses as "unix://path" or "unix:path".
func (c *Client) dial(ctx context.Context, addr string) (net.Conn, error) {
	network, address := "tcp", addr
	switch {
	case strings.HasPrefix(addr, "unix://"):
		network, address = "unix", strings.TrimPrefix(addr, "unix://")
	case strings.HasPrefix(addr, "unix:"):
		network, address = "unix", strings.TrimPrefix(addr, "unix:")
	case strings.HasPrefix(addr, "\x00"):
		network = "unix"
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, address)
	c.mu.Lock()
	c.dialErr = err
	c.mu.Unlock()
	return conn, err
}

// Target returns the address the client dials, as given to Dial.
func (c *Client) Target() string { return c.target }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Submit submits a job. A non-empty requestID makes a retry return the job
// the first attempt created (the response then says Duplicate).
func (c *Client) Submit(ctx context.Context, spec *gpuqv1.JobSpec, requestID string, opts ...grpc.CallOption) (*gpuqv1.SubmitJobResponse, error) {
	resp, err := c.rpc.SubmitJob(ctx, &gpuqv1.SubmitJobRequest{Spec: spec, RequestId: requestID}, opts...)
	if err != nil {
		return nil, c.err(err)
	}
	return resp, nil
}

// List returns the jobs that match f, without scripts or environments.
func (c *Client) List(ctx context.Context, f *gpuqv1.JobFilter, opts ...grpc.CallOption) ([]*gpuqv1.Job, error) {
	resp, err := c.rpc.ListJobs(ctx, &gpuqv1.ListJobsRequest{Filter: f}, opts...)
	if err != nil {
		return nil, c.err(err)
	}
	return resp.GetJobs(), nil
}

// Get returns a job, or every task of an array job, in full detail. A job
// that does not exist is an error wrapping job.ErrNotFound.
func (c *Client) Get(ctx context.Context, r job.Ref, opts ...grpc.CallOption) ([]*gpuqv1.Job, error) {
	resp, err := c.rpc.GetJob(ctx, &gpuqv1.GetJobRequest{Job: r.Proto()}, opts...)
	if err != nil {
		return nil, c.err(err)
	}
	return resp.GetJobs(), nil
}

// Cancel cancels the jobs that match f; reason may be empty. Use OutcomeErr
// on each outcome.
func (c *Client) Cancel(ctx context.Context, f *gpuqv1.JobFilter, reason string, opts ...grpc.CallOption) ([]*gpuqv1.JobOutcome, error) {
	resp, err := c.rpc.CancelJobs(ctx, &gpuqv1.CancelJobsRequest{Filter: f, Reason: reason}, opts...)
	if err != nil {
		return nil, c.err(err)
	}
	return resp.GetOutcomes(), nil
}

// Hold keeps the pending jobs that match f from starting.
func (c *Client) Hold(ctx context.Context, f *gpuqv1.JobFilter, opts ...grpc.CallOption) ([]*gpuqv1.JobOutcome, error) {
	resp, err := c.rpc.HoldJobs(ctx, &gpuqv1.HoldJobsRequest{Filter: f}, opts...)
	if err != nil {
		return nil, c.err(err)
	}
	return resp.GetOutcomes(), nil
}

// Release lets the held jobs that match f start.
func (c *Client) Release(ctx context.Context, f *gpuqv1.JobFilter, opts ...grpc.CallOption) ([]*gpuqv1.JobOutcome, error) {
	resp, err := c.rpc.ReleaseJobs(ctx, &gpuqv1.ReleaseJobsRequest{Filter: f}, opts...)
	if err != nil {
		return nil, c.err(err)
	}
	return resp.GetOutcomes(), nil
}

// Priority returns the priority factors of the pending jobs matching f, like
// sprio, highest first.
func (c *Client) Priority(ctx context.Context, f *gpuqv1.JobFilter, opts ...grpc.CallOption) ([]*gpuqv1.PriorityFactors, error) {
	resp, err := c.rpc.Priority(ctx, &gpuqv1.PriorityRequest{Filter: f}, opts...)
	if err != nil {
		return nil, c.err(err)
	}
	return resp.GetJobs(), nil
}

// Shares returns each team's and user's fair-share standing, like sshare.
func (c *Client) Shares(ctx context.Context, opts ...grpc.CallOption) ([]*gpuqv1.ShareStanding, error) {
	resp, err := c.rpc.Shares(ctx, &gpuqv1.SharesRequest{}, opts...)
	if err != nil {
		return nil, c.err(err)
	}
	return resp.GetShares(), nil
}

// ListNodes returns every node gpuqd knows, in no particular order.
func (c *Client) ListNodes(ctx context.Context, opts ...grpc.CallOption) ([]*gpuqv1.Node, error) {
	resp, err := c.rpc.ListNodes(ctx, &gpuqv1.ListNodesRequest{}, opts...)
	if err != nil {
		return nil, c.err(err)
	}
	return resp.GetNodes(), nil
}

// DrainNode lets the jobs running on the node finish and starts no new ones
// there; reason is recorded with the state (gpuqd fills in one when it is
// empty). Draining a drained node replaces its reason. A node gpuqd does not
// know is an error wrapping job.ErrNotFound.
func (c *Client) DrainNode(ctx context.Context, name, reason string, opts ...grpc.CallOption) error {
	_, err := c.rpc.DrainNode(ctx, &gpuqv1.DrainNodeRequest{Name: name, Reason: reason}, opts...)
	return c.err(err)
}

// ResumeNode undoes DrainNode. A node gpuqd does not know is an error wrapping
// job.ErrNotFound; a DOWN node, which comes back only when its daemon
// registers again, is an error wrapping job.ErrInvalidState.
func (c *Client) ResumeNode(ctx context.Context, name string, opts ...grpc.CallOption) error {
	_, err := c.rpc.ResumeNode(ctx, &gpuqv1.ResumeNodeRequest{Name: name}, opts...)
	return c.err(err)
}

// err maps a failed call to a domain error. An unavailable daemon whose
// connection is not up is an *UnreachableError naming the target; a daemon
// that answered "unavailable" itself is a *StatusError.
func (c *Client) err(err error) error {
	e := FromStatus(err)
	if !errors.Is(e, job.ErrUnavailable) || c.conn.GetState() == connectivity.Ready {
		return e
	}
	// Unreachable only when the latest connection attempt failed: an
	// Unavailable answered by a gpuqd that is shutting down is not.
	c.mu.Lock()
	cause := c.dialErr
	c.mu.Unlock()
	if cause == nil {
		return e
	}
	return &UnreachableError{Target: c.target, Err: cause}
}

// Conn is the client's connection, for other services on the same gpuqd
// (the node daemon's NodeService).
func (c *Client) Conn() grpc.ClientConnInterface { return c.conn }
