package auth

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRole(t *testing.T) {
	tests := []struct {
		in      string
		want    Role
		wantErr bool
	}{
		{in: "", want: RoleUser},
		{in: "user", want: RoleUser},
		{in: "USER", want: RoleUser},
		{in: "team-admin", want: RoleTeamAdmin},
		{in: "admin", want: RoleTeamAdmin},
		{in: "teamadmin", want: RoleTeamAdmin},
		{in: "Team-Admin", want: RoleTeamAdmin},
		{in: "operator", want: RoleOperator},
		{in: "Operator", want: RoleOperator},
		{in: "node", wantErr: true},
		{in: "root", wantErr: true},
		{in: " user", wantErr: true},
		{in: "team_admin", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRole(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseRole(%q) = %q, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseRole(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestIdentityString(t *testing.T) {
	tests := []struct {
		id   *Identity
		want string
	}{
		{id: nil, want: "anonymous"},
		{id: &Identity{}, want: "anonymous"},
		{id: &Identity{Kind: KindNone, Name: "root"}, want: "anonymous"},
		{id: &Identity{Kind: KindNode, Name: "gpu-01"}, want: "node gpu-01"},
		{id: &Identity{Kind: KindUser, Name: "alice", Role: RoleOperator, TokenID: "tok_1"}, want: "user alice"},
	}
	for _, tt := range tests {
		if got := tt.id.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.id, got, tt.want)
		}
	}
}

func TestIdentityMemberAdmin(t *testing.T) {
	type result struct{ Operator, MemberSF, MemberNY, AdminSF, AdminNY bool }
	tests := []struct {
		name string
		id   *Identity
		want result
	}{
		{name: "nil", id: nil},
		{name: "anonymous", id: &Identity{Teams: []string{"sf"}, AdminOf: []string{"sf"}, Role: RoleOperator}},
		{name: "node", id: &Identity{Kind: KindNode, Teams: []string{"sf"}, AdminOf: []string{"sf"}, Role: RoleOperator}},
		{name: "user sf", id: &Identity{Kind: KindUser, Role: RoleUser, Teams: []string{"sf"}}, want: result{MemberSF: true}},
		{name: "admin sf", id: &Identity{Kind: KindUser, Role: RoleTeamAdmin, Teams: []string{"sf"}, AdminOf: []string{"sf"}},
			want: result{MemberSF: true, AdminSF: true}},
		{name: "admin ny only", id: &Identity{Kind: KindUser, Role: RoleTeamAdmin, AdminOf: []string{"ny"}},
			want: result{MemberNY: true, AdminNY: true}},
		{name: "operator", id: &Identity{Kind: KindUser, Role: RoleOperator},
			want: result{Operator: true, MemberSF: true, MemberNY: true, AdminSF: true, AdminNY: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := result{tt.id.Operator(), tt.id.Member("sf"), tt.id.Member("ny"), tt.id.Admin("sf"), tt.id.Admin("ny")}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestContext(t *testing.T) {
	if got := FromContext(context.Background()); got != nil {
		t.Errorf("FromContext(empty) = %v, want nil", got)
	}
	id := &Identity{Kind: KindUser, Name: "alice"}
	ctx := NewContext(context.Background(), id)
	if got := FromContext(ctx); got != id {
		t.Errorf("FromContext = %v, want %v", got, id)
	}
	// An inner context may replace it.
	node := &Identity{Kind: KindNode, Name: "n1"}
	if got := FromContext(NewContext(ctx, node)); got != node {
		t.Errorf("FromContext(inner) = %v, want %v", got, node)
	}
	if got := FromContext(NewContext(ctx, nil)); got != nil {
		t.Errorf("FromContext after NewContext(nil) = %v, want nil", got)
	}
	// A value under another key of the same type does not count.
	type otherKey struct{}
	if got := FromContext(context.WithValue(context.Background(), otherKey{}, id)); got != nil {
		t.Errorf("FromContext with another key = %v", got)
	}
}
