package auth

import (
	"errors"
	"os"
	"os/user"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDirectoryByUID(t *testing.T) {
	names := map[uint32]string{
		0: "root", 990: "gpuq", 1000: "alice", 1001: "carol", 1002: "dave",
		1003: "olga", 1004: "nobody-special", 1005: "pat",
	}
	errNoUser := errors.New("no such user")
	d := &Directory{
		SelfUID:   990,
		Operators: []string{"olga", "pat"},
		Teams: []TeamMembers{
			{Team: "sf", Users: []string{"alice", "dave"}, Admins: []string{"carol", "pat"}},
			{Team: "ny", Users: []string{"carol"}, Admins: []string{"dave"}},
			{Team: "ldn", Users: []string{"olga"}},
		},
		LookupUID: func(uid uint32) (string, error) {
			if n, ok := names[uid]; ok {
				return n, nil
			}
			return "", errNoUser
		},
	}
	tests := []struct {
		name string
		uid  uint32
		want *Identity // nil: an error
	}{
		{name: "root is an operator", uid: 0,
			want: &Identity{Kind: KindUser, Name: "root", Role: RoleOperator, Method: MethodPeerCred}},
		{name: "gpuqd's own uid is an operator", uid: 990,
			want: &Identity{Kind: KindUser, Name: "gpuq", Role: RoleOperator, Method: MethodPeerCred}},
		{name: "team user", uid: 1000,
			want: &Identity{Kind: KindUser, Name: "alice", Role: RoleUser, Teams: []string{"sf"}, Method: MethodPeerCred}},
		{name: "admin of one team, user of another", uid: 1001,
			want: &Identity{Kind: KindUser, Name: "carol", Role: RoleTeamAdmin, Teams: []string{"sf", "ny"}, AdminOf: []string{"sf"}, Method: MethodPeerCred}},
		{name: "user of one team, admin of another", uid: 1002,
			want: &Identity{Kind: KindUser, Name: "dave", Role: RoleTeamAdmin, Teams: []string{"sf", "ny"}, AdminOf: []string{"ny"}, Method: MethodPeerCred}},
		{name: "configured operator in a team", uid: 1003,
			want: &Identity{Kind: KindUser, Name: "olga", Role: RoleOperator, Teams: []string{"ldn"}, Method: MethodPeerCred}},
		{name: "configured operator who is also a team admin", uid: 1005,
			want: &Identity{Kind: KindUser, Name: "pat", Role: RoleOperator, Teams: []string{"sf"}, AdminOf: []string{"sf"}, Method: MethodPeerCred}},
		{name: "known uid in no team", uid: 1004,
			want: &Identity{Kind: KindUser, Name: "nobody-special", Role: RoleUser, Method: MethodPeerCred}},
		{name: "unknown uid", uid: 4242},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.ByUID(tt.uid)
			if tt.want == nil {
				if !errors.Is(err, errNoUser) {
					t.Fatalf("ByUID(%d) = %+v, %v; want an error wrapping %v", tt.uid, got, err, errNoUser)
				}
				return
			}
			if err != nil {
				t.Fatalf("ByUID(%d): %v", tt.uid, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ByUID(%d) (-want +got):\n%s", tt.uid, diff)
			}
			if err := RequireUser(got); err != nil {
				t.Errorf("RequireUser(ByUID(%d)): %v", tt.uid, err)
			}
		})
	}
}

// A name the config lists is no operator just because of its uid: only uid
// 0 and gpuqd's own are.
func TestDirectoryOperatorsByUIDOnly(t *testing.T) {
	d := &Directory{SelfUID: 990, LookupUID: func(uint32) (string, error) { return "root", nil }}
	id, err := d.ByUID(1000) // a user whose name is "root" but whose uid is not 0
	if err != nil {
		t.Fatal(err)
	}
	if id.Operator() {
		t.Errorf("uid 1000 named root is an operator")
	}
}

func TestDirectoryUser(t *testing.T) {
	d := &Directory{
		Operators: []string{"olga"},
		Teams:     []TeamMembers{{Team: "sf", Users: []string{"alice"}, Admins: []string{"carol"}}},
	}
	tests := []struct {
		name string
		want *Identity
	}{
		{name: "alice", want: &Identity{Kind: KindUser, Name: "alice", Role: RoleUser, Teams: []string{"sf"}}},
		{name: "carol", want: &Identity{Kind: KindUser, Name: "carol", Role: RoleTeamAdmin, Teams: []string{"sf"}, AdminOf: []string{"sf"}}},
		{name: "olga", want: &Identity{Kind: KindUser, Name: "olga", Role: RoleOperator}},
		{name: "stranger", want: &Identity{Kind: KindUser, Name: "stranger", Role: RoleUser}},
		{name: "", want: &Identity{Kind: KindUser, Name: "", Role: RoleUser}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, d.User(tt.name)); diff != "" {
			t.Errorf("User(%q) (-want +got):\n%s", tt.name, diff)
		}
	}
}

// Without LookupUID the directory asks the system (os/user).
func TestDirectoryDefaultLookup(t *testing.T) {
	uid := os.Getuid()
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		t.Skipf("this system cannot name uid %d: %v", uid, err)
	}
	d := &Directory{SelfUID: uint32(uid)}
	id, err := d.ByUID(uint32(uid))
	if err != nil {
		t.Fatalf("ByUID(%d): %v", uid, err)
	}
	if id.Name != u.Username || !id.Operator() || id.Method != MethodPeerCred {
		t.Errorf("ByUID(own uid) = %+v, want operator %s by peer credentials", id, u.Username)
	}
}
