package auth

import (
	"fmt"
	"os/user"
	"slices"
	"strconv"
)

// TeamMembers is who belongs to a team and who administers it, as the
// config lists them.
type TeamMembers struct {
	Team   string
	Users  []string
	Admins []string
}

// Directory turns a unix uid (the peer credentials of a local client) into
// an identity: root and the uid gpuqd runs as are operators, so are the
// configured operators; everyone else is a user with the teams the config
// lists them in.
type Directory struct {
	SelfUID   uint32
	Operators []string
	Teams     []TeamMembers
	// LookupUID names a uid; default os/user.
	LookupUID func(uid uint32) (string, error)
}

// ByUID returns the identity of a local process running as uid.
func (d *Directory) ByUID(uid uint32) (*Identity, error) {
	lookup := d.LookupUID
	if lookup == nil {
		lookup = func(uid uint32) (string, error) {
			u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
			if err != nil {
				return "", err
			}
			return u.Username, nil
		}
	}
	name, err := lookup(uid)
	if err != nil {
		return nil, fmt.Errorf("uid %d has no user name: %w", uid, err)
	}
	id := d.User(name)
	id.Method = MethodPeerCred
	if uid == 0 || uid == d.SelfUID {
		id.Role = RoleOperator
	}
	return id, nil
}

// User returns the identity the config gives the user called name.
func (d *Directory) User(name string) *Identity {
	id := &Identity{Kind: KindUser, Name: name, Role: RoleUser}
	if slices.Contains(d.Operators, name) {
		id.Role = RoleOperator
	}
	for _, t := range d.Teams {
		if slices.Contains(t.Users, name) || slices.Contains(t.Admins, name) {
			id.Teams = append(id.Teams, t.Team)
		}
		if slices.Contains(t.Admins, name) {
			id.AdminOf = append(id.AdminOf, t.Team)
			if id.Role == RoleUser {
				id.Role = RoleTeamAdmin
			}
		}
	}
	return id
}
