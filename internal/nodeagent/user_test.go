package nodeagent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// fakeUsers is a user database in a map; "ldap-down" fails as a directory
// that cannot be reached does.
type fakeUsers map[string]Identity

var errDirectory = errors.New("directory unreachable")

func (f fakeUsers) LookupUser(name string) (Identity, error) {
	if name == "ldap-down" {
		return Identity{}, fmt.Errorf("look up user %q: %w", name, errDirectory)
	}
	id, ok := f[name]
	if !ok {
		return Identity{}, fmt.Errorf("user %q: %w", name, ErrUnknownUser)
	}
	return id, nil
}

var (
	alice    = Identity{Name: "alice", UID: 1000, GID: 1000, Groups: []uint32{1000, 27}, Home: "/home/alice"}
	nobody   = Identity{Name: "nobody", UID: 65534, GID: 65534, Groups: []uint32{65534}, Home: "/nonexistent"}
	rootUser = Identity{Name: "root", UID: 0, GID: 0, Groups: []uint32{0}, Home: "/root"}
	gpuqUser = Identity{Name: "gpuq", UID: 990, GID: 990, Home: "/var/lib/gpuq-node"}
	testDB   = fakeUsers{"alice": alice, "nobody": nobody, "root": rootUser, "toor": {Name: "toor", UID: 0, GID: 0}}
)

func TestUsersResolve(t *testing.T) {
	cfg := func(edit func(*UsersConfig)) UsersConfig {
		c := DefaultConfig().Users
		if edit != nil {
			edit(&c)
		}
		return c
	}
	fallback := func(c *UsersConfig) { c.UnknownUser = "nobody" }
	tests := []struct {
		name    string
		cfg     UsersConfig
		self    Identity // gpuq-node's own
		user    string   // the job's
		want    Identity
		wantErr error
	}{
		{"known user", cfg(nil), rootUser, "alice", alice, nil},
		{"unknown user refused", cfg(nil), rootUser, "mallory", Identity{}, ErrUnknownUser},
		{"unknown user runs as the fallback", cfg(fallback), rootUser, "mallory", nobody, nil},
		{"known user with a fallback set", cfg(fallback), rootUser, "alice", alice, nil},
		{"root refused", cfg(nil), rootUser, "root", Identity{}, ErrRootUser},
		{"another name for uid 0 refused", cfg(nil), rootUser, "toor", Identity{}, ErrRootUser},
		{"root allowed by config", cfg(func(c *UsersConfig) { c.AllowRoot = true }), rootUser, "root", rootUser, nil},
		{"a failing directory is no unknown user", cfg(fallback), rootUser, "ldap-down", Identity{}, errDirectory},
		{"run_as node, allowed as root", cfg(func(c *UsersConfig) { c.RunAs, c.AllowRoot = RunAsNode, true }), rootUser, "alice", rootUser, nil},
		{"gpuq-node not root: its own user", cfg(nil), gpuqUser, "alice", gpuqUser, nil},
		{"gpuq-node not root: its own user for unknown users too", cfg(nil), gpuqUser, "mallory", gpuqUser, nil},
		{"gpuq-node not root: root's jobs too", cfg(nil), gpuqUser, "root", gpuqUser, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := NewUsers(tt.cfg, testDB, tt.self)
			if err != nil {
				t.Fatalf("NewUsers: %v", err)
			}
			got, err := u.Resolve(tt.user)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("Resolve(%q) error = %v, want %v", tt.user, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Resolve(%q) (-want +got):\n%s", tt.user, diff)
			}
		})
	}
}

func TestNewUsersRefuses(t *testing.T) {
	tests := []struct {
		name    string
		cfg     UsersConfig
		wantErr error
	}{
		{"fallback unknown", UsersConfig{RunAs: RunAsUser, UnknownUser: "ghost"}, ErrUnknownUser},
		{"fallback is root", UsersConfig{RunAs: RunAsUser, UnknownUser: "root"}, ErrRootUser},
		{"run_as node as root", UsersConfig{RunAs: RunAsNode, UnknownUser: UnknownUserRefuse}, ErrRootUser},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewUsers(tt.cfg, testDB, rootUser); !errors.Is(err, tt.wantErr) {
				t.Errorf("NewUsers as root = %v, want %v", err, tt.wantErr)
			}
			// Not root, gpuq-node runs jobs as itself: nothing to refuse.
			if _, err := NewUsers(tt.cfg, testDB, gpuqUser); err != nil {
				t.Errorf("NewUsers not as root = %v", err)
			}
		})
	}
}

func TestUsersConfigValidate(t *testing.T) {
	c := DefaultConfig()
	c.Name, c.Pool = "n1", "p"
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c.Users = UsersConfig{RunAs: "alice", UnknownUser: "no body"}
	err := c.Validate()
	if err == nil {
		t.Fatal("run_as: alice and unknown_user: \"no body\" accepted")
	}
	for _, field := range []string{"run_as:", "unknown_user:"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("Validate() = %v, want a problem with %s", err, field)
		}
	}
}

func TestOSUsers(t *testing.T) {
	if _, err := (OSUsers{}).LookupUser("gpuq-no-such-user"); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("unknown user: %v, want ErrUnknownUser", err)
	}
	if _, err := (OSUsers{}).LookupUser(""); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("empty name: %v, want ErrUnknownUser", err)
	}
	self := OwnIdentity()
	id, err := (OSUsers{}).LookupUser(self.Name)
	if err != nil {
		t.Skipf("this process's user %q is not in the user database: %v", self.Name, err)
	}
	if id.UID != self.UID || len(id.Groups) == 0 {
		t.Errorf("LookupUser(%q) = %+v, want uid %d and groups", self.Name, id, self.UID)
	}
}

// owner returns path's owner and permission bits.
func owner(t *testing.T, path string) (uint32, uint32, os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid, fi.Mode().Perm()
}

// TestRunSpecUser prepares a job of alice, who is nobody on this node (a
// fake user database): as root, the job's files are nobody's; not as
// root, the job runs as this process's user.
func TestRunSpecUser(t *testing.T) {
	// The job's working directory, as a user's own would be: open to the
	// user (t.TempDir's parent is closed to other users).
	work, err := os.MkdirTemp("", "nodeagent-user")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	if err := os.Chmod(work, 0o1777); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(work, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	asNobody := nobody
	asNobody.Name, asNobody.Home = "alice", home
	self := OwnIdentity()
	users, err := NewUsers(DefaultConfig().Users, fakeUsers{"alice": asNobody}, self)
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	scripts, err := newScriptCache(filepath.Join(state, "scripts"), 4)
	if err != nil {
		t.Fatal(err)
	}
	a := &Agent{opts: Options{StateDir: state, CheckpointDir: filepath.Join(state, "checkpoints"),
		Info: &gpuqv1.NodeInfo{Name: "n1"}, Users: users}, scripts: scripts}
	j := testJob(nil)
	j.Spec.Chdir, j.Spec.Output, j.Spec.Script = work, "logs/%j.out", []byte("#!/bin/sh\nid -u\n")
	as := &gpuqv1.Assignment{AllocationId: "42.0.ab", Job: j}

	spec, err := a.runSpec(as, &run{alloc: as.AllocationId})
	if err != nil {
		t.Fatalf("runSpec: %v", err)
	}
	want := asNobody
	if !users.Switches() {
		t.Log("not root: checking that the job runs as this process's user; the switch to alice needs root")
		want = self
	}
	if *spec.UID != want.UID || *spec.GID != want.GID || !cmp.Equal(spec.Groups, want.Groups, cmpopts.EquateEmpty()) {
		t.Errorf("spec runs as %d:%d %v, want %d:%d %v", *spec.UID, *spec.GID, spec.Groups, want.UID, want.GID, want.Groups)
	}
	env := map[string]bool{}
	for _, kv := range spec.Env {
		env[kv] = true
	}
	for _, kv := range []string{"USER=" + want.Name, "LOGNAME=" + want.Name, "GPUQ_USER=alice"} {
		if !env[kv] {
			t.Errorf("environment lacks %s", kv)
		}
	}
	if users.Switches() && !env["HOME="+home] {
		t.Errorf("environment lacks HOME=%s", home)
	}
	// With a working directory, the script is a file of its own.
	script, _ := scriptPaths(state, as.AllocationId, false)
	if spec.Args[0] != script {
		t.Errorf("runs %s, want the script %s", spec.Args[0], script)
	}
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{
		{script, 0o500},
		{filepath.Join(state, "checkpoints", "42"), 0o700},
		{filepath.Join(work, "logs"), 0o755},
	} {
		uid, gid, mode := owner(t, f.path)
		if uid != want.UID || gid != want.GID || mode != f.mode {
			t.Errorf("%s: %d:%d %v, want %d:%d %v", f.path, uid, gid, mode, want.UID, want.GID, f.mode)
		}
	}

	// A user the node does not know: refused before anything is made.
	j.Spec.User = "mallory"
	as = &gpuqv1.Assignment{AllocationId: "43.0.ab", Job: j}
	_, err = a.runSpec(as, &run{alloc: as.AllocationId})
	if !users.Switches() {
		if err != nil {
			t.Errorf("not root, a job of an unknown user: %v, want it run as this process's user", err)
		}
		return
	}
	if !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("runSpec for an unknown user: %v, want ErrUnknownUser", err)
	}
	for _, dir := range []bool{false, true} {
		if _, p := scriptPaths(state, as.AllocationId, dir); exists(p) {
			t.Errorf("a refused job left %s", p)
		}
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
