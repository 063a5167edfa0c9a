package ctl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/auth"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

func testToken(t *testing.T, user string) string {
	t.Helper()
	s, err := auth.NewSigner(make([]byte, auth.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Sign(auth.Claims{ID: "tok_1", Subject: user, Role: auth.RoleUser, Teams: []string{"sf"},
		Issued: testNow, Expires: testNow.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// A stored token names the user gpuqctl submits as; a credentials file
// others may read is refused with the fix.
func TestCredentialsFile(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(t.TempDir(), "credentials")
	e.vars[envCredentials] = path
	creds := `{"token": "` + testToken(t, "bob") + `"}`
	if err := os.WriteFile(path, []byte(creds), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.run(t, "submit", "--team", "sf", "--wrap", "true")
	if r.code != exitUsage || !strings.Contains(r.stderr, "readable by others (mode 0644): run chmod 600 "+path) {
		t.Errorf("0644 credentials: exit %d, %q", r.code, r.stderr)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	e.run(t, "submit", "--team", "sf", "--wrap", "true").check(t, 0, "Submitted job 1\n", "")
	if subs := e.srv.Submits(); len(subs) != 1 || subs[0].Spec.User != "bob" {
		t.Errorf("submitted as %v; want the token's user bob", subs)
	}
	// $GPUQ_TOKEN wins over the file.
	e.vars[envToken] = testToken(t, "carol")
	e.run(t, "submit", "--team", "sf", "--wrap", "true").check(t, 0, "Submitted job 1\n", "") // the same request id
	if subs := e.srv.Submits(); subs[len(subs)-1].Spec.User != "carol" {
		t.Errorf("submitted as %q; want carol", subs[len(subs)-1].Spec.User)
	}
	if err := os.WriteFile(path, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	delete(e.vars, envToken)
	r = e.run(t, "queue")
	if r.code != exitUsage || !strings.Contains(r.stderr, "not a gpuq credentials file") {
		t.Errorf("bad credentials file: exit %d, %q", r.code, r.stderr)
	}
}

func TestLoginInput(t *testing.T) {
	e := newEnv(t)
	e.vars[envCredentials] = filepath.Join(t.TempDir(), "credentials")
	r := e.run(t, "login")
	if r.code != exitUsage || !strings.Contains(r.stderr, "standard input: no token") {
		t.Errorf("login without a token: exit %d, %q", r.code, r.stderr)
	}
	e.cfg.stdin = strings.NewReader("not-a-token\n")
	r = e.run(t, "login")
	if r.code != exitUsage || !strings.Contains(r.stderr, `token: invalid token: does not start with "gpuq_"`) {
		t.Errorf("login with garbage: exit %d, %q", r.code, r.stderr)
	}
	if _, err := os.Stat(e.vars[envCredentials]); !os.IsNotExist(err) {
		t.Errorf("a failed login wrote credentials: %v", err)
	}
}

func TestTokenCreateUsage(t *testing.T) {
	e := newEnv(t)
	r := e.run(t, "token", "create", "--user", "alice", "--ttl", "soon")
	if r.code != exitUsage || !strings.Contains(r.stderr, `--ttl: "soon" is not a positive duration`) {
		t.Errorf("bad ttl: exit %d, %q", r.code, r.stderr)
	}
	r = e.run(t, "token", "revoke")
	if r.code != exitUsage || !strings.Contains(r.stderr, "name at least one token id") {
		t.Errorf("revoke nothing: exit %d, %q", r.code, r.stderr)
	}
}

func TestFormatTokens(t *testing.T) {
	ts := timestamppb.New
	list := []*gpuqv1.TokenInfo{
		{Id: "tok_a", Subject: "alice", Role: "user", Teams: []string{"sf"}, Issued: ts(testNow.Add(-48 * time.Hour)),
			Expires: ts(testNow.Add(720 * time.Hour)), IssuedBy: "user root"},
		{Id: "tok_b", Subject: "carol", Role: "team-admin", Teams: []string{"sf", "berlin"}, Issued: ts(testNow.Add(-24 * time.Hour)),
			Expires: ts(testNow.Add(-time.Hour)), IssuedBy: "user ops"},
		{Id: "tok_c", Subject: "node-1", Role: "node", Issued: ts(testNow.Add(-time.Hour)), Expires: ts(testNow.Add(time.Hour)),
			Revoked: ts(testNow), IssuedBy: "join token"},
	}
	golden(t, "token_list.golden", formatTokens(list, testNow, testZone))
}
