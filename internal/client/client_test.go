package client_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/gpuq/gpuq/internal/client"
	"github.com/gpuq/gpuq/internal/client/clienttest"
	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// dialFake starts a fake gpuqd and a client of it, closed when the test
// ends.
func dialFake(t *testing.T) (*clienttest.Server, *client.Client) {
	t.Helper()
	srv := &clienttest.Server{}
	c, err := client.Dial(srv.Start(t), client.Security{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srv, c
}

func TestTarget(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == client.EnvServer {
				return v
			}
			return ""
		}
	}
	tests := []struct {
		target string
		getenv func(string) string
		want   string
	}{
		{"", env(""), client.DefaultTarget},
		{"", nil, client.DefaultTarget},
		{"", env("gpu-head:7070"), "gpu-head:7070"},
		{"unix:///tmp/x.sock", env("gpu-head:7070"), "unix:///tmp/x.sock"},
	}
	for _, tt := range tests {
		if got := client.Target(tt.target, tt.getenv); got != tt.want {
			t.Errorf("Target(%q) = %q, want %q", tt.target, got, tt.want)
		}
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// Every form of address users type reaches the same server.
func TestDialForms(t *testing.T) {
	srv := &clienttest.Server{}
	target := srv.Start(t)
	path := target[len("unix://"):]
	rel, err := filepath.Rel(mustWd(t), path)
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{target, path, "unix:" + path, rel} {
		t.Run(addr, func(t *testing.T) {
			c, err := client.Dial(addr, client.Security{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.List(ctx(t), &gpuqv1.JobFilter{}); err != nil {
				t.Fatalf("List via %q: %v", addr, err)
			}
		})
	}
}

func mustWd(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

func TestRoundTrip(t *testing.T) {
	_, c := dialFake(t)
	spec := &gpuqv1.JobSpec{Name: "train", Team: "sf", User: "alice", Gpus: &gpuqv1.GPURequest{Type: "a100", Count: 4}}
	resp, err := c.Submit(ctx(t), spec, "req-1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Submit(ctx(t), spec, "req-1")
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate || again.JobId != resp.JobId {
		t.Errorf("retried submit = %v, want duplicate of job %d", again, resp.JobId)
	}
	jobs, err := c.Get(ctx(t), job.Ref{ID: resp.JobId})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || !proto.Equal(jobs[0].Spec, spec) {
		t.Errorf("Get = %v, want the submitted spec", jobs)
	}
	if _, err := c.Get(ctx(t), job.Ref{ID: 999}); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("Get(999) = %v, want job.ErrNotFound", err)
	}

	f := &gpuqv1.JobFilter{Jobs: []*gpuqv1.JobRef{{Id: resp.JobId}, {Id: 999}}}
	outs, err := c.Hold(ctx(t), f)
	if err != nil {
		t.Fatal(err)
	}
	want := []*gpuqv1.JobOutcome{
		{Job: &gpuqv1.JobRef{Id: 999}, Result: gpuqv1.JobOutcome_RESULT_NOT_FOUND, Message: "job 999: not found"},
		{Job: &gpuqv1.JobRef{Id: resp.JobId}, Result: gpuqv1.JobOutcome_RESULT_DONE},
	}
	if diff := cmp.Diff(want, outs, protocmp.Transform()); diff != "" {
		t.Errorf("Hold outcomes (-want +got):\n%s", diff)
	}
	if _, err := c.Release(ctx(t), f); err != nil {
		t.Fatal(err)
	}
	outs, err = c.Cancel(ctx(t), f, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := client.OutcomeErr(outs[1]); err != nil {
		t.Errorf("cancel: %v", err)
	}
	if err := client.OutcomeErr(outs[0]); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("cancel 999: %v, want job.ErrNotFound", err)
	}
}

// The server's own "unavailable" (shutting down) is not a connection failure.
func TestServerUnavailable(t *testing.T) {
	srv := &clienttest.Server{Intercept: func(string, proto.Message) error {
		return status.Error(codes.Unavailable, "gpuqd is shutting down")
	}}
	c, err := client.Dial(srv.Start(t), client.Security{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.List(ctx(t), nil)
	var se *client.StatusError
	if !errors.Is(err, job.ErrUnavailable) || !errors.As(err, &se) {
		t.Fatalf("List = %#v, want a *StatusError wrapping job.ErrUnavailable", err)
	}
	var ue *client.UnreachableError
	if errors.As(err, &ue) {
		t.Errorf("List = %v, want no *UnreachableError", err)
	}
}

func TestUnreachable(t *testing.T) {
	dir, err := os.MkdirTemp("", "gpuqtest")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	target := "unix://" + filepath.Join(dir, "none.sock")
	c, err := client.Dial(target, client.Security{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Submit(ctx(t), &gpuqv1.JobSpec{}, "r")
	var ue *client.UnreachableError
	if !errors.As(err, &ue) || !errors.Is(err, job.ErrUnavailable) {
		t.Fatalf("Submit = %v, want *UnreachableError wrapping job.ErrUnavailable", err)
	}
	if ue.Target != target || !errors.Is(err, syscall.ENOENT) {
		t.Errorf("UnreachableError = %+v, want target %q and cause ENOENT", ue, target)
	}
	want := "cannot reach gpuqd at " + target + ": dial unix " + target[len("unix://"):] + ": connect: no such file or directory"
	if err.Error() != want {
		t.Errorf("message = %q, want %q", err.Error(), want)
	}
}

func TestDialBadTarget(t *testing.T) {
	_, err := client.Dial("gpu%zz:7070", client.Security{Insecure: true})
	var inv *job.InvalidError
	if !errors.As(err, &inv) || inv.Fields[0].Field != "server" {
		t.Fatalf("Dial = %v, want *job.InvalidError for field server", err)
	}
}

func TestNodes(t *testing.T) {
	srv, c := dialFake(t)
	nodes := []*gpuqv1.Node{
		{Info: &gpuqv1.NodeInfo{Name: "gpu-a01", Pool: "a100"}, State: gpuqv1.NodeState_NODE_STATE_UP, Connected: true},
		{Info: &gpuqv1.NodeInfo{Name: "gpu-a02", Pool: "a100"}, State: gpuqv1.NodeState_NODE_STATE_DOWN, Reason: "missed heartbeats"},
	}
	srv.SetNodes(nodes)
	got, err := c.ListNodes(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(nodes, got, protocmp.Transform()); diff != "" {
		t.Errorf("ListNodes (-want +got):\n%s", diff)
	}

	if err := c.DrainNode(ctx(t), "gpu-a01", "bad fan"); err != nil {
		t.Fatalf("DrainNode: %v", err)
	}
	if n := srv.Nodes()[0]; n.State != gpuqv1.NodeState_NODE_STATE_DRAIN || n.Reason != "bad fan" {
		t.Errorf("after DrainNode: %v (%q), want DRAIN (bad fan)", n.State, n.Reason)
	}
	if err := c.ResumeNode(ctx(t), "gpu-a01"); err != nil {
		t.Fatalf("ResumeNode: %v", err)
	}
	if n := srv.Nodes()[0]; n.State != gpuqv1.NodeState_NODE_STATE_UP || n.Reason != "" {
		t.Errorf("after ResumeNode: %v (%q), want UP with no reason", n.State, n.Reason)
	}

	tests := []struct {
		name string
		call func() error
		want error
		msg  string
	}{
		{"drain unknown", func() error { return c.DrainNode(ctx(t), "gpu-z99", "x") }, job.ErrNotFound, "node gpu-z99: not found"},
		{"resume unknown", func() error { return c.ResumeNode(ctx(t), "gpu-z99") }, job.ErrNotFound, "node gpu-z99: not found"},
		{"resume down", func() error { return c.ResumeNode(ctx(t), "gpu-a02") }, job.ErrInvalidState,
			"node gpu-a02: invalid state for this action: it is DOWN; it comes back when its daemon registers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var se *client.StatusError
			if !errors.Is(err, tt.want) || !errors.As(err, &se) {
				t.Fatalf("err = %#v, want a *StatusError wrapping %v", err, tt.want)
			}
			if err.Error() != tt.msg {
				t.Errorf("message = %q, want %q", err.Error(), tt.msg)
			}
		})
	}
}
