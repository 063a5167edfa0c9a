package auth

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gpuq/gpuq/internal/job"
)

// The principals of the policy tests, by name.
var principals = map[string]*Identity{
	"nil":       nil,
	"anonymous": {},
	// Kind decides: a role or teams on an unauthenticated identity or a
	// node count for nothing.
	"anonymous with a role": {Kind: KindNone, Name: "root", Role: RoleOperator, Teams: []string{"sf"}, AdminOf: []string{"sf"}},
	"node n1":               {Kind: KindNode, Name: "n1", Method: MethodCert},
	"node alice":            {Kind: KindNode, Name: "alice", Role: RoleOperator, Teams: []string{"sf"}, AdminOf: []string{"sf"}},
	"alice (sf)":            {Kind: KindUser, Name: "alice", Role: RoleUser, Teams: []string{"sf"}},
	"carol (admin sf)":      {Kind: KindUser, Name: "carol", Role: RoleTeamAdmin, Teams: []string{"sf"}, AdminOf: []string{"sf"}},
	"dave (sf, ny)":         {Kind: KindUser, Name: "dave", Role: RoleUser, Teams: []string{"sf", "ny"}},
	// Role team-admin without AdminOf administers nothing.
	"erin (admin role, no teams)": {Kind: KindUser, Name: "erin", Role: RoleTeamAdmin, Teams: []string{"sf"}},
	// Admin of ny only, member of sf.
	"frank (sf, admin ny)": {Kind: KindUser, Name: "frank", Role: RoleTeamAdmin, Teams: []string{"sf"}, AdminOf: []string{"ny"}},
	"olga (operator)":      {Kind: KindUser, Name: "olga", Role: RoleOperator},
}

// The outcomes of a rule.
const (
	ok     = "ok"
	unauth = "unauthenticated"
	denied = "denied"
)

func outcome(t *testing.T, err error) string {
	t.Helper()
	switch {
	case err == nil:
		return ok
	case errors.Is(err, job.ErrUnauthenticated) && errors.Is(err, job.ErrPermissionDenied):
		t.Errorf("%v wraps both ErrUnauthenticated and ErrPermissionDenied", err)
		return "both"
	case errors.Is(err, job.ErrUnauthenticated):
		return unauth
	case errors.Is(err, job.ErrPermissionDenied):
		return denied
	}
	t.Errorf("%v wraps neither ErrUnauthenticated nor ErrPermissionDenied", err)
	return "other: " + err.Error()
}

func boolOutcome(b bool) string {
	if b {
		return ok
	}
	return denied
}

func TestPolicy(t *testing.T) {
	// want gives each rule's outcome for every principal; principals not
	// listed get the rule's default.
	tests := []struct {
		rule  string
		check func(*Identity) string
		def   string            // the outcome of principals not in want
		want  map[string]string // by principal
	}{
		{
			rule:  "RequireUser",
			check: func(id *Identity) string { return outcome(t, RequireUser(id)) },
			def:   ok,
			want: map[string]string{"nil": unauth, "anonymous": unauth, "anonymous with a role": unauth,
				"node n1": denied, "node alice": denied},
		},
		{
			rule:  "RequireOperator",
			check: func(id *Identity) string { return outcome(t, RequireOperator(id)) },
			def:   denied,
			want:  map[string]string{"nil": unauth, "anonymous": unauth, "anonymous with a role": unauth, "olga (operator)": ok},
		},
		{
			rule:  `RequireNode("")`,
			check: func(id *Identity) string { return outcome(t, RequireNode(id, "")) },
			def:   denied,
			want: map[string]string{"nil": unauth, "anonymous": unauth, "anonymous with a role": unauth,
				"node n1": ok, "node alice": ok},
		},
		{
			rule:  `RequireNode("n1")`,
			check: func(id *Identity) string { return outcome(t, RequireNode(id, "n1")) },
			def:   denied,
			want:  map[string]string{"nil": unauth, "anonymous": unauth, "anonymous with a role": unauth, "node n1": ok},
		},
		{
			rule:  `RequireNode("alice")`, // a user called alice is not node alice
			check: func(id *Identity) string { return outcome(t, RequireNode(id, "alice")) },
			def:   denied,
			want:  map[string]string{"nil": unauth, "anonymous": unauth, "anonymous with a role": unauth, "node alice": ok},
		},
		{
			rule:  `CanSubmit(sf, as oneself)`,
			check: func(id *Identity) string { return outcome(t, CanSubmit(id, "sf", "")) },
			def:   ok,
			want: map[string]string{"nil": unauth, "anonymous": unauth, "anonymous with a role": unauth,
				"node n1": denied, "node alice": denied},
		},
		{
			rule:  `CanSubmit(ny, as oneself)`,
			check: func(id *Identity) string { return outcome(t, CanSubmit(id, "ny", "")) },
			def:   denied,
			want: map[string]string{"nil": unauth, "anonymous": unauth, "anonymous with a role": unauth,
				"dave (sf, ny)": ok, "frank (sf, admin ny)": ok, "olga (operator)": ok},
		},
		{
			rule:  `CanSubmit(sf, as alice)`,
			check: func(id *Identity) string { return outcome(t, CanSubmit(id, "sf", "alice")) },
			def:   denied,
			want: map[string]string{"nil": unauth, "anonymous": unauth, "anonymous with a role": unauth,
				"alice (sf)": ok, "olga (operator)": ok},
		},
		{
			rule:  `CanSubmit(ny, as alice)`,
			check: func(id *Identity) string { return outcome(t, CanSubmit(id, "ny", "alice")) },
			def:   denied,
			want: map[string]string{"nil": unauth, "anonymous": unauth, "anonymous with a role": unauth,
				"olga (operator)": ok},
		},
		{
			rule:  `CanSubmit(no team)`,
			check: func(id *Identity) string { return outcome(t, CanSubmit(id, "", "")) },
			def:   denied,
			want: map[string]string{"nil": unauth, "anonymous": unauth, "anonymous with a role": unauth,
				"olga (operator)": ok},
		},
		{
			rule:  `CanActOn(sf, alice)`,
			check: func(id *Identity) string { return outcome(t, CanActOn(id, "sf", "alice")) },
			def:   denied,
			want: map[string]string{"nil": unauth, "anonymous": unauth, "anonymous with a role": unauth,
				"alice (sf)": ok, "carol (admin sf)": ok, "olga (operator)": ok},
		},
		{
			rule:  `CanActOn(ny, alice)`, // one's own job, whatever the team
			check: func(id *Identity) string { return outcome(t, CanActOn(id, "ny", "alice")) },
			def:   denied,
			want: map[string]string{"nil": unauth, "anonymous": unauth, "anonymous with a role": unauth,
				"alice (sf)": ok, "frank (sf, admin ny)": ok, "olga (operator)": ok},
		},
		{
			rule:  `CanActOn(ny, bob)`,
			check: func(id *Identity) string { return outcome(t, CanActOn(id, "ny", "bob")) },
			def:   denied,
			want: map[string]string{"nil": unauth, "anonymous": unauth, "anonymous with a role": unauth,
				"frank (sf, admin ny)": ok, "olga (operator)": ok},
		},
		{
			rule:  `CanReadRecord(sf, alice)`,
			check: func(id *Identity) string { return boolOutcome(CanReadRecord(id, "sf", "alice")) },
			def:   denied,
			want:  map[string]string{"alice (sf)": ok, "carol (admin sf)": ok, "olga (operator)": ok},
		},
		{
			rule:  `CanReadRecord(ny, bob)`,
			check: func(id *Identity) string { return boolOutcome(CanReadRecord(id, "ny", "bob")) },
			def:   denied,
			want:  map[string]string{"frank (sf, admin ny)": ok, "olga (operator)": ok},
		},
		{
			rule:  `CanReadTeam(sf)`,
			check: func(id *Identity) string { return outcome(t, CanReadTeam(id, "sf")) },
			def:   denied,
			want: map[string]string{"nil": unauth, "anonymous": unauth, "anonymous with a role": unauth,
				"carol (admin sf)": ok, "olga (operator)": ok},
		},
		{
			rule:  `CanReadTeam(ny)`,
			check: func(id *Identity) string { return outcome(t, CanReadTeam(id, "ny")) },
			def:   denied,
			want: map[string]string{"nil": unauth, "anonymous": unauth, "anonymous with a role": unauth,
				"frank (sf, admin ny)": ok, "olga (operator)": ok},
		},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			want, got := map[string]string{}, map[string]string{}
			for name, id := range principals {
				want[name] = tt.def
				if w, ok := tt.want[name]; ok {
					want[name] = w
				}
				got[name] = tt.check(id)
			}
			for name := range tt.want {
				if _, ok := principals[name]; !ok {
					t.Fatalf("test names an unknown principal %q", name)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tt.rule, diff)
			}
		})
	}
}

// The errors name the principal, so the audit log and the user can see who
// was refused, and never end up empty.
func TestPolicyErrorsNamePrincipal(t *testing.T) {
	alice := principals["alice (sf)"]
	for _, err := range []error{
		RequireOperator(alice),
		CanSubmit(alice, "ny", ""),
		CanSubmit(alice, "sf", "bob"),
		CanActOn(alice, "ny", "bob"),
		CanReadTeam(alice, "sf"),
	} {
		if err == nil || !errors.Is(err, job.ErrPermissionDenied) {
			t.Fatalf("got %v, want a refusal", err)
		}
		if msg := err.Error(); !strings.Contains(msg, "user alice") {
			t.Errorf("%q does not name user alice", msg)
		}
	}
	if err := RequireNode(principals["node n1"], "n2"); err == nil || !strings.Contains(err.Error(), "node n1") || !strings.Contains(err.Error(), "n2") {
		t.Errorf("RequireNode(n1 as n2): %v", err)
	}
}
