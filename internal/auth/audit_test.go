package auth

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// auditLines decodes the audit log, one JSON object a line, leaving out
// the time each line carries.
func auditLines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if _, ok := m["time"]; !ok {
			t.Errorf("audit line %q has no time", line)
		}
		delete(m, "time")
		out = append(out, m)
	}
	return out
}

func TestAuditRecord(t *testing.T) {
	tests := []struct {
		name  string
		event Event
		want  map[string]any
	}{
		{
			name:  "anonymous refused",
			event: Event{Method: "/gpuq.v1.QueueService/Cancel", Peer: "10.0.0.9:51234", Detail: "unauthenticated: log in"},
			want: map[string]any{"level": "INFO", "msg": "audit", "rpc": "/gpuq.v1.QueueService/Cancel", "principal": "anonymous",
				"peer": "10.0.0.9:51234", "decision": "denied", "detail": "unauthenticated: log in"},
		},
		{
			name: "user with a token allowed",
			event: Event{Method: "/gpuq.v1.QueueService/Submit", Allowed: true, Peer: "10.0.0.9:51234", Detail: "job 42",
				Principal: &Identity{Kind: KindUser, Name: "alice", Role: RoleUser, Teams: []string{"sf"}, Method: MethodToken, TokenID: "tok_0123456789abcdef"}},
			want: map[string]any{"level": "INFO", "msg": "audit", "rpc": "/gpuq.v1.QueueService/Submit", "principal": "user alice",
				"peer": "10.0.0.9:51234", "auth": "token", "token_id": "tok_0123456789abcdef", "decision": "allowed", "detail": "job 42"},
		},
		{
			name: "operator on the socket",
			event: Event{Method: "/gpuq.v1.AuthService/RevokeToken", Allowed: true, Peer: "@", Detail: "revoked tok_1",
				Principal: &Identity{Kind: KindUser, Name: "root", Role: RoleOperator, Method: MethodPeerCred}},
			want: map[string]any{"level": "INFO", "msg": "audit", "rpc": "/gpuq.v1.AuthService/RevokeToken", "principal": "user root",
				"peer": "@", "auth": "peercred", "decision": "allowed", "detail": "revoked tok_1"},
		},
		{
			name: "node by certificate refused",
			event: Event{Method: "/gpuq.v1.NodeService/RegisterNode", Peer: "10.0.0.7:4000", Detail: "may not act as node n2",
				Principal: &Identity{Kind: KindNode, Name: "n1", Method: MethodCert}},
			want: map[string]any{"level": "INFO", "msg": "audit", "rpc": "/gpuq.v1.NodeService/RegisterNode", "principal": "node n1",
				"peer": "10.0.0.7:4000", "auth": "cert", "decision": "denied", "detail": "may not act as node n2"},
		},
		{
			name:  "empty event",
			event: Event{},
			want: map[string]any{"level": "INFO", "msg": "audit", "rpc": "", "principal": "anonymous",
				"peer": "", "decision": "denied", "detail": ""},
		},
		{
			name:  "a newline in the detail stays on one line",
			event: Event{Method: "m", Detail: "line one\nline two\r\n{\"forged\":true}"},
			want: map[string]any{"level": "INFO", "msg": "audit", "rpc": "m", "principal": "anonymous",
				"peer": "", "decision": "denied", "detail": "line one\nline two\r\n{\"forged\":true}"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			NewAudit(&buf).Record(tt.event)
			if n := strings.Count(buf.String(), "\n"); n != 1 || !strings.HasSuffix(buf.String(), "\n") {
				t.Fatalf("Record wrote %d lines: %q", n, buf.String())
			}
			got := auditLines(t, buf.Bytes())
			if diff := cmp.Diff([]map[string]any{tt.want}, got); diff != "" {
				t.Errorf("audit record (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAuditAppends(t *testing.T) {
	var buf bytes.Buffer
	a := NewAudit(&buf)
	for _, m := range []string{"a", "b", "c"} {
		a.Record(Event{Method: m})
	}
	var got []any
	for _, l := range auditLines(t, buf.Bytes()) {
		got = append(got, l["rpc"])
	}
	if diff := cmp.Diff([]any{"a", "b", "c"}, got); diff != "" {
		t.Errorf("rpcs (-want +got):\n%s", diff)
	}
}

func TestAuditNil(t *testing.T) {
	var a *Audit
	a.Record(Event{Method: "m"}) // no panic
	if err := a.Close(); err != nil {
		t.Errorf("Close of a nil audit: %v", err)
	}
	if err := NewAudit(&bytes.Buffer{}).Close(); err != nil {
		t.Errorf("Close of an audit to a writer: %v", err)
	}
}

func TestOpenAudit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log", "audit.log")
	a, err := OpenAudit(path)
	if err != nil {
		t.Fatalf("OpenAudit: %v", err)
	}
	a.Record(Event{Method: "first"})
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode() != 0o600 {
		t.Errorf("audit log mode %v, want 0600", st.Mode())
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("audit log directory: %v, %v; want mode 0700", st.Mode(), err)
	}
	// Reopening appends.
	a, err = OpenAudit(path)
	if err != nil {
		t.Fatal(err)
	}
	a.Record(Event{Method: "second"})
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []any
	for _, l := range auditLines(t, b) {
		got = append(got, l["rpc"])
	}
	if diff := cmp.Diff([]any{"first", "second"}, got); diff != "" {
		t.Errorf("rpcs after reopening (-want +got):\n%s", diff)
	}

	// A path under a file cannot be opened.
	if _, err := OpenAudit(filepath.Join(path, "audit.log")); err == nil {
		t.Errorf("OpenAudit under a file: no error")
	}
}

// Concurrent records never interleave within a line (run with -race).
func TestAuditConcurrent(t *testing.T) {
	var buf bytes.Buffer
	a := NewAudit(&buf)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				a.Record(Event{Method: "m", Detail: strings.Repeat("x", 200)})
			}
		})
	}
	wg.Wait()
	if got := len(auditLines(t, buf.Bytes())); got != 400 {
		t.Errorf("%d lines, want 400", got)
	}
}
