// Package clienttest provides an in-memory gpuq QueueService and
// AccountingService served on a unix socket, for the tests of the client and
// of gpuqctl. It keeps jobs, nodes and accounting records in slices, records
// every request, and lets a test fail or intercept any call. It follows the
// real server's conventions for errors and outcomes but makes no scheduling
// decisions and prices nothing: tests set job and node states themselves,
// and the cost reports and budgets it answers with.
package clienttest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Server is a fake QueueService. The zero value is ready to use.
type Server struct {
	gpuqv1.UnimplementedQueueServiceServer

	// Intercept, when set, runs before every call with the method name
	// ("SubmitJob", "GetJob", ...) and the request; a non-nil error fails the
	// call with it. It may call Update and AddJobs.
	Intercept func(method string, req proto.Message) error
	// SubmitWarnings are returned by every SubmitJob.
	SubmitWarnings []string
	// Identity is what WhoAmI answers (set it before the first call); nil
	// fails WhoAmI as Unimplemented.
	Identity *gpuqv1.WhoAmIResponse

	mu       sync.Mutex
	jobs     []*gpuqv1.Job
	nodes    []*gpuqv1.Node
	requests map[string]uint64
	nextID   uint64
	calls    []proto.Message
	acct     acctState // the AccountingService's state
}

var _ gpuqv1.QueueServiceServer = (*Server)(nil)

// Start serves s on a unix socket in a new temporary directory until the test
// ends, and returns the target to dial ("unix:///tmp/.../gpuqd.sock").
func (s *Server) Start(tb testing.TB) string {
	tb.Helper()
	// Not tb.TempDir: socket paths are limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "gpuqtest")
	if err != nil {
		tb.Fatal(err)
	}
	sock := filepath.Join(dir, "gpuqd.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		os.RemoveAll(dir)
		tb.Fatal(err)
	}
	srv := grpc.NewServer()
	gpuqv1.RegisterQueueServiceServer(srv, s)
	gpuqv1.RegisterAccountingServiceServer(srv, accountingServer{s: s})
	gpuqv1.RegisterAuthServiceServer(srv, authServer{s: s})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	tb.Cleanup(func() {
		srv.Stop()
		<-done
		os.RemoveAll(dir)
	})
	return "unix://" + sock
}

// AddJobs stores jobs as they are; ids at or above the next id move it on.
func (s *Server) AddJobs(jobs ...*gpuqv1.Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range jobs {
		s.jobs = append(s.jobs, proto.CloneOf(j))
		s.nextID = max(s.nextID, j.Id)
	}
}

// Update calls fn on every stored task of the job or task r.
func (s *Server) Update(r job.Ref, fn func(*gpuqv1.Job)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.jobs {
		if matchRef(r, j) {
			fn(j)
		}
	}
}

// Jobs returns copies of the stored jobs.
func (s *Server) Jobs() []*gpuqv1.Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*gpuqv1.Job, len(s.jobs))
	for i, j := range s.jobs {
		out[i] = proto.CloneOf(j)
	}
	return out
}

// SetNodes replaces the stored nodes with copies of nodes; ListNodes returns
// them in this order.
func (s *Server) SetNodes(nodes []*gpuqv1.Node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nodes = make([]*gpuqv1.Node, len(nodes))
	for i, n := range nodes {
		s.nodes[i] = proto.CloneOf(n)
	}
}

// Nodes returns copies of the stored nodes.
func (s *Server) Nodes() []*gpuqv1.Node {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*gpuqv1.Node, len(s.nodes))
	for i, n := range s.nodes {
		out[i] = proto.CloneOf(n)
	}
	return out
}

// Calls returns the requests received so far, in order.
func (s *Server) Calls() []proto.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Submits returns the SubmitJob requests received so far.
func (s *Server) Submits() []*gpuqv1.SubmitJobRequest {
	var out []*gpuqv1.SubmitJobRequest
	for _, c := range s.Calls() {
		if r, ok := c.(*gpuqv1.SubmitJobRequest); ok {
			out = append(out, r)
		}
	}
	return out
}

// InvalidArgument builds the status the real server returns for bad input:
// InvalidArgument with an errdetails.BadRequest listing the fields.
func InvalidArgument(fields ...job.FieldError) error {
	st := status.New(codes.InvalidArgument, (&job.InvalidError{Fields: fields}).Error())
	br := &errdetails.BadRequest{}
	for _, f := range fields {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: f.Field, Description: f.Problem})
	}
	st, err := st.WithDetails(br)
	if err != nil {
		panic(err)
	}
	return st.Err()
}

func (s *Server) begin(method string, req proto.Message) error {
	s.mu.Lock()
	s.calls = append(s.calls, proto.CloneOf(req))
	s.mu.Unlock()
	if s.Intercept != nil {
		return s.Intercept(method, req)
	}
	return nil
}

// SubmitJob stores one pending job per task; a known request id returns the
// job it created.
func (s *Server) SubmitJob(_ context.Context, req *gpuqv1.SubmitJobRequest) (*gpuqv1.SubmitJobResponse, error) {
	if err := s.begin("SubmitJob", req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.requests[req.RequestId]; ok && req.RequestId != "" {
		return &gpuqv1.SubmitJobResponse{JobId: id, ArrayTaskCount: s.taskCount(id), Duplicate: true}, nil
	}
	s.nextID++
	id := s.nextID
	spec := proto.CloneOf(req.Spec)
	mk := func() *gpuqv1.Job {
		return &gpuqv1.Job{
			Id: id, Spec: spec, State: gpuqv1.JobState_JOB_STATE_PENDING, Reason: "None",
			SubmitTime: timestamppb.Now(), Held: spec.GetHold(),
		}
	}
	if a := spec.GetArray(); a != nil {
		for _, t := range a.TaskIds {
			j := mk()
			j.ArrayTaskId = proto.Uint32(t)
			s.jobs = append(s.jobs, j)
		}
	} else {
		s.jobs = append(s.jobs, mk())
	}
	if req.RequestId != "" {
		if s.requests == nil {
			s.requests = map[string]uint64{}
		}
		s.requests[req.RequestId] = id
	}
	return &gpuqv1.SubmitJobResponse{JobId: id, ArrayTaskCount: s.taskCount(id), Warnings: s.SubmitWarnings}, nil
}

func (s *Server) taskCount(id uint64) uint32 {
	var n uint32
	for _, j := range s.jobs {
		if j.Id == id && j.ArrayTaskId != nil {
			n++
		}
	}
	return n
}

// ListJobs returns the matching jobs in store order, without scripts and
// environments. Like the real queue, refs alone do not select ended jobs.
func (s *Server) ListJobs(_ context.Context, req *gpuqv1.ListJobsRequest) (*gpuqv1.ListJobsResponse, error) {
	if err := s.begin("ListJobs", req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := req.GetFilter()
	resp := &gpuqv1.ListJobsResponse{}
	for _, j := range s.jobs {
		if match(f, j, false) {
			c := proto.CloneOf(j)
			c.Spec.Script, c.Spec.Environment = nil, nil
			resp.Jobs = append(resp.Jobs, c)
		}
	}
	if req.GetView() == gpuqv1.JobView_JOB_VIEW_BRIEF {
		resp.Jobs = job.Brief(resp.Jobs)
	}
	return resp, nil
}

// GetJob returns the job or every task of it; NotFound when there is none.
func (s *Server) GetJob(_ context.Context, req *gpuqv1.GetJobRequest) (*gpuqv1.GetJobResponse, error) {
	if err := s.begin("GetJob", req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := job.FromProto(req.GetJob())
	resp := &gpuqv1.GetJobResponse{}
	for _, j := range s.jobs {
		if matchRef(r, j) {
			resp.Jobs = append(resp.Jobs, proto.CloneOf(j))
		}
	}
	if len(resp.Jobs) == 0 {
		return nil, status.Errorf(codes.NotFound, "job %s: %v", r, job.ErrNotFound)
	}
	return resp, nil
}

// CancelJobs cancels pending jobs; running and ended ones are in the wrong state.
func (s *Server) CancelJobs(_ context.Context, req *gpuqv1.CancelJobsRequest) (*gpuqv1.CancelJobsResponse, error) {
	if err := s.begin("CancelJobs", req); err != nil {
		return nil, err
	}
	reason := req.Reason
	if reason == "" {
		reason = "CancelledByUser"
	}
	out := s.apply(req.GetFilter(), func(j *gpuqv1.Job) string {
		if j.State != gpuqv1.JobState_JOB_STATE_PENDING {
			return "job is " + job.StateName(j.State)
		}
		j.State, j.Reason = gpuqv1.JobState_JOB_STATE_CANCELLED, reason
		return ""
	})
	return &gpuqv1.CancelJobsResponse{Outcomes: out}, nil
}

// HoldJobs holds pending jobs.
func (s *Server) HoldJobs(_ context.Context, req *gpuqv1.HoldJobsRequest) (*gpuqv1.HoldJobsResponse, error) {
	if err := s.begin("HoldJobs", req); err != nil {
		return nil, err
	}
	return &gpuqv1.HoldJobsResponse{Outcomes: s.apply(req.GetFilter(), setHeld(true))}, nil
}

// ReleaseJobs releases held jobs.
func (s *Server) ReleaseJobs(_ context.Context, req *gpuqv1.ReleaseJobsRequest) (*gpuqv1.ReleaseJobsResponse, error) {
	if err := s.begin("ReleaseJobs", req); err != nil {
		return nil, err
	}
	return &gpuqv1.ReleaseJobsResponse{Outcomes: s.apply(req.GetFilter(), setHeld(false))}, nil
}

func setHeld(held bool) func(*gpuqv1.Job) string {
	return func(j *gpuqv1.Job) string {
		if j.State != gpuqv1.JobState_JOB_STATE_PENDING {
			return "job is " + job.StateName(j.State) + ", not PENDING"
		}
		j.Held = held
		j.Reason = "None"
		if held {
			j.Reason = "JobHeldUser"
		}
		return ""
	}
}

// apply runs fn on the matching jobs like the real queue: refs that match no
// job are not found, and fn's non-empty answer is an invalid state.
func (s *Server) apply(f *gpuqv1.JobFilter, fn func(*gpuqv1.Job) string) []*gpuqv1.JobOutcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*gpuqv1.JobOutcome
	for _, pr := range f.GetJobs() {
		r := job.FromProto(pr)
		if !slices.ContainsFunc(s.jobs, func(j *gpuqv1.Job) bool { return matchRef(r, j) }) {
			out = append(out, &gpuqv1.JobOutcome{Job: pr, Result: gpuqv1.JobOutcome_RESULT_NOT_FOUND,
				Message: "job " + r.String() + ": " + job.ErrNotFound.Error()})
		}
	}
	for _, j := range s.jobs {
		if !match(f, j, len(f.GetJobs()) > 0) {
			continue
		}
		r := job.RefOf(j)
		if msg := fn(j); msg != "" {
			out = append(out, &gpuqv1.JobOutcome{Job: r.Proto(), Result: gpuqv1.JobOutcome_RESULT_INVALID_STATE,
				Message: "job " + r.String() + ": " + job.ErrInvalidState.Error() + ": " + msg})
			continue
		}
		out = append(out, &gpuqv1.JobOutcome{Job: r.Proto(), Result: gpuqv1.JobOutcome_RESULT_DONE})
	}
	return out
}

// ListNodes returns the stored nodes.
func (s *Server) ListNodes(_ context.Context, req *gpuqv1.ListNodesRequest) (*gpuqv1.ListNodesResponse, error) {
	if err := s.begin("ListNodes", req); err != nil {
		return nil, err
	}
	return &gpuqv1.ListNodesResponse{Nodes: s.Nodes()}, nil
}

// DrainNode drains a node like the real server, whatever its state; an
// empty reason becomes the server's default. NotFound for an unknown node.
func (s *Server) DrainNode(_ context.Context, req *gpuqv1.DrainNodeRequest) (*gpuqv1.DrainNodeResponse, error) {
	if err := s.begin("DrainNode", req); err != nil {
		return nil, err
	}
	reason := req.Reason
	if reason == "" {
		reason = "drained by an operator"
	}
	err := s.setNodeState(req.Name, func(n *gpuqv1.Node) error {
		n.State, n.Reason = gpuqv1.NodeState_NODE_STATE_DRAIN, reason
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &gpuqv1.DrainNodeResponse{}, nil
}

// ResumeNode makes a node UP and clears its reason. NotFound for an unknown
// node, FailedPrecondition for a DOWN one, as the real server answers.
func (s *Server) ResumeNode(_ context.Context, req *gpuqv1.ResumeNodeRequest) (*gpuqv1.ResumeNodeResponse, error) {
	if err := s.begin("ResumeNode", req); err != nil {
		return nil, err
	}
	err := s.setNodeState(req.Name, func(n *gpuqv1.Node) error {
		if n.State == gpuqv1.NodeState_NODE_STATE_DOWN {
			return status.Errorf(codes.FailedPrecondition, "node %s: %v: it is DOWN; it comes back when its daemon registers", req.Name, job.ErrInvalidState)
		}
		n.State, n.Reason = gpuqv1.NodeState_NODE_STATE_UP, ""
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &gpuqv1.ResumeNodeResponse{}, nil
}

// setNodeState runs fn on the named node; NotFound when there is none.
func (s *Server) setNodeState(name string, fn func(*gpuqv1.Node) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.nodes {
		if n.GetInfo().GetName() == name {
			return fn(n)
		}
	}
	return status.Errorf(codes.NotFound, "node %s: %v", name, job.ErrNotFound)
}

func matchRef(r job.Ref, j *gpuqv1.Job) bool {
	got := job.RefOf(j)
	return got.ID == r.ID && (!r.HasTask || got == r)
}

// match follows gpuqv1.JobFilter; includeEnded also selects ended jobs.
func match(f *gpuqv1.JobFilter, j *gpuqv1.Job, includeEnded bool) bool {
	if refs := f.GetJobs(); len(refs) > 0 && !slices.ContainsFunc(refs, func(p *gpuqv1.JobRef) bool { return matchRef(job.FromProto(p), j) }) {
		return false
	}
	switch {
	case len(f.GetStates()) > 0:
		if !slices.Contains(f.GetStates(), j.State) {
			return false
		}
	case !f.GetIncludeEnded() && !includeEnded && job.Ended(j.State):
		return false
	}
	if len(f.GetTeams()) > 0 && !slices.Contains(f.GetTeams(), j.Spec.GetTeam()) {
		return false
	}
	if len(f.GetUsers()) > 0 && !slices.Contains(f.GetUsers(), j.Spec.GetUser()) {
		return false
	}
	if len(f.GetNames()) > 0 && !slices.Contains(f.GetNames(), j.Spec.GetName()) {
		return false
	}
	return true
}
