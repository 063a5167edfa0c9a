package auth

import (
	"fmt"

	"github.com/gpuq/gpuq/internal/job"
)

// The rules every RPC is checked against. Each returns nil when id may do
// the thing, else an error wrapping job.ErrUnauthenticated (no identity)
// or job.ErrPermissionDenied that says what was refused and why.

// RequireUser refuses anyone but an authenticated user.
func RequireUser(id *Identity) error {
	switch {
	case id == nil || id.Kind == KindNone:
		return fmt.Errorf("%w: log in (gpuqctl login) or present a token or certificate", job.ErrUnauthenticated)
	case id.Kind != KindUser:
		return fmt.Errorf("%w: %s may not make user requests", job.ErrPermissionDenied, id)
	}
	return nil
}

// RequireOperator refuses anyone but an operator.
func RequireOperator(id *Identity) error {
	if err := RequireUser(id); err != nil {
		return err
	}
	if !id.Operator() {
		return fmt.Errorf("%w: %s is not an operator", job.ErrPermissionDenied, id)
	}
	return nil
}

// RequireNode refuses anyone but the node called name (any node when name
// is "").
func RequireNode(id *Identity, name string) error {
	switch {
	case id == nil || id.Kind == KindNone:
		return fmt.Errorf("%w: a node must present its certificate or node token (join the cluster first)", job.ErrUnauthenticated)
	case id.Kind != KindNode:
		return fmt.Errorf("%w: %s is not a node", job.ErrPermissionDenied, id)
	case name != "" && id.Name != name:
		return fmt.Errorf("%w: %s may not act as node %s", job.ErrPermissionDenied, id, name)
	}
	return nil
}

// CanSubmit checks a submission for team by user: users submit as
// themselves, for teams they belong to; operators submit for anyone.
func CanSubmit(id *Identity, team, user string) error {
	if err := RequireUser(id); err != nil {
		return err
	}
	if id.Operator() {
		return nil
	}
	if user != "" && user != id.Name {
		return fmt.Errorf("%w: %s may not submit as user %s", job.ErrPermissionDenied, id, user)
	}
	if !id.Member(team) {
		return fmt.Errorf("%w: %s does not belong to team %q", job.ErrPermissionDenied, id, team)
	}
	return nil
}

// CanActOn checks an action (cancel, hold, release, ...) on a job of team
// submitted by user: one's own jobs, the jobs of the teams one
// administers, or any as an operator.
func CanActOn(id *Identity, team, user string) error {
	if err := RequireUser(id); err != nil {
		return err
	}
	if id.Operator() || id.Name == user || id.Admin(team) {
		return nil
	}
	return fmt.Errorf("%w: %s may not act on jobs of user %s in team %s", job.ErrPermissionDenied, id, user, team)
}

// CanReadRecord reports whether id may read an accounting record of team
// and user: their own, their administered teams', or any as an operator.
func CanReadRecord(id *Identity, team, user string) bool {
	return id != nil && id.Kind == KindUser && (id.Operator() || id.Name == user || id.Admin(team))
}

// CanReadTeam checks reading team-wide figures (cost, budget) of team.
func CanReadTeam(id *Identity, team string) error {
	if err := RequireUser(id); err != nil {
		return err
	}
	if id.Admin(team) {
		return nil
	}
	return fmt.Errorf("%w: %s may not read the accounting of team %s (team admins and operators may)", job.ErrPermissionDenied, id, team)
}
