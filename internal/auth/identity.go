package auth

import (
	"context"
	"crypto"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Role is what a user may do beyond their own jobs.
type Role string

// The roles, from least to most.
const (
	// RoleUser acts on their own jobs and reads their own records.
	RoleUser Role = "user"
	// RoleTeamAdmin also acts on the jobs of their teams and reads the
	// teams' accounting and budgets.
	RoleTeamAdmin Role = "team-admin"
	// RoleOperator may do everything: nodes, every job, every team's
	// accounting, tokens.
	RoleOperator Role = "operator"
)

// ParseRole accepts the roles' names ("admin" for team-admin).
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(s) {
	case "user", "":
		return RoleUser, nil
	case "team-admin", "admin", "teamadmin":
		return RoleTeamAdmin, nil
	case "operator":
		return RoleOperator, nil
	}
	return "", fmt.Errorf("unknown role %q: want user, team-admin or operator", s)
}

// Kind is what sort of principal made a request.
type Kind int

// The kinds of principal.
const (
	KindNone Kind = iota // unauthenticated
	KindUser             // a person (or their scripts)
	KindNode             // a node daemon
)

// Method says how the principal proved who it is.
type Method string

// The authentication methods.
const (
	MethodToken    Method = "token"    // a bearer token gpuqd signed
	MethodCert     Method = "cert"     // a client certificate gpuqd's CA signed
	MethodPeerCred Method = "peercred" // the uid of a process on the unix socket
	MethodJoin     Method = "join"     // the node join token
)

// Identity is an authenticated principal.
type Identity struct {
	Kind  Kind
	Name  string   // the user's name, or the node's
	Role  Role     // users only
	Teams []string // teams the user belongs to
	// AdminOf is the teams whose jobs, accounting and budgets the user
	// manages (role team-admin).
	AdminOf []string
	Method  Method
	// TokenID names the token used, for the audit log; never the token.
	TokenID string
	// Issued is when the token or certificate presented was issued (zero
	// for peer credentials).
	Issued time.Time
	// Key is the public key of the certificate presented, if one was.
	Key crypto.PublicKey
}

// String is how the audit log and errors name the principal.
func (id *Identity) String() string {
	if id == nil || id.Kind == KindNone {
		return "anonymous"
	}
	if id.Kind == KindNode {
		return "node " + id.Name
	}
	return "user " + id.Name
}

// Operator reports whether id may do everything.
func (id *Identity) Operator() bool {
	return id != nil && id.Kind == KindUser && id.Role == RoleOperator
}

// Member reports whether id belongs to team (operators belong to all).
func (id *Identity) Member(team string) bool {
	return id.Operator() || (id != nil && id.Kind == KindUser && (slices.Contains(id.Teams, team) || slices.Contains(id.AdminOf, team)))
}

// Admin reports whether id administers team.
func (id *Identity) Admin(team string) bool {
	return id.Operator() || (id != nil && id.Kind == KindUser && slices.Contains(id.AdminOf, team))
}

type ctxKey struct{}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity NewContext stored, or nil.
func FromContext(ctx context.Context) *Identity {
	id, _ := ctx.Value(ctxKey{}).(*Identity)
	return id
}
