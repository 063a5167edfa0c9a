package nodeagent

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"sync"
	"time"
)

var (
	// ErrUnknownUser: the node's user database has no such user.
	ErrUnknownUser = errors.New("not known on this node")
	// ErrRootUser: a job would run as root, and allow_root is false.
	ErrRootUser = errors.New("jobs do not run as root (uid 0) here")
)

// Identity is a user as the node knows it: whom a job runs as.
type Identity struct {
	Name     string
	UID, GID uint32
	// Groups are the supplementary groups, the primary one included.
	Groups []uint32
	// Home is the home directory in the user database; it may not exist.
	Home string
}

// UserDB finds users in the node's user database. OSUsers is the real one;
// tests use their own.
type UserDB interface {
	// LookupUser returns the user of that name, or an error wrapping
	// ErrUnknownUser when there is none.
	LookupUser(name string) (Identity, error)
}

// OSUsers is the node's user database through os/user: with cgo (as
// gpuq-node is built) through NSS, so LDAP and SSSD users are known too.
type OSUsers struct{}

var _ UserDB = OSUsers{}

// LookupUser looks name up with os/user.
func (OSUsers) LookupUser(name string) (Identity, error) {
	if name == "" {
		return Identity{}, fmt.Errorf("empty user name: %w", ErrUnknownUser)
	}
	u, err := user.Lookup(name)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return Identity{}, fmt.Errorf("user %q: %w", name, ErrUnknownUser)
		}
		return Identity{}, fmt.Errorf("look up user %q: %w", name, err)
	}
	return identityOf(u)
}

// CachedUsers remembers what DB answered, as nscd does: a user for
// Positive, the fact that a name is unknown for Negative. Failures of the
// directory itself (LDAP down) are not remembered. Every job start looks
// its user up, and through NSS a name no module knows costs dozens of file
// opens (systemd's userdb directories, then /etc/passwd and /etc/group);
// a busy node starting trivial jobs spent a good part of its time there
// (BenchmarkJobThroughput, whose jobs' user is unknown to the node).
type CachedUsers struct {
	DB                 UserDB
	Positive, Negative time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time

	mu      sync.Mutex
	entries map[string]cachedUser
	sweepAt int // the size at which expired entries are swept out
}

type cachedUser struct {
	id      Identity
	err     error // nil, or wraps ErrUnknownUser
	expires time.Time
}

// Cached user lookups: how long gpuq-node trusts what the user database
// said. A user added on a node runs jobs within CacheNegative, a change to
// a user (groups, uid) reaches new jobs within CachePositive.
const (
	CachePositive = time.Minute
	CacheNegative = 15 * time.Second
)

// NewCachedUsers caches db with CachePositive and CacheNegative.
func NewCachedUsers(db UserDB) *CachedUsers {
	return &CachedUsers{DB: db, Positive: CachePositive, Negative: CacheNegative}
}

var _ UserDB = (*CachedUsers)(nil)

// LookupUser answers from the cache while it is fresh, else from DB.
func (c *CachedUsers) LookupUser(name string) (Identity, error) {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	t := now()
	c.mu.Lock()
	e, ok := c.entries[name]
	c.mu.Unlock()
	if ok && t.Before(e.expires) {
		e.id.Groups = slices.Clone(e.id.Groups)
		return e.id, e.err
	}
	id, err := c.DB.LookupUser(name)
	var ttl time.Duration
	switch {
	case err == nil:
		ttl = c.Positive
	case errors.Is(err, ErrUnknownUser):
		ttl = c.Negative
	}
	if ttl > 0 {
		c.mu.Lock()
		if c.entries == nil {
			c.entries = map[string]cachedUser{}
		}
		// Expired entries go when the map has doubled since the last sweep.
		if len(c.entries) >= max(c.sweepAt, 1024) {
			for k, v := range c.entries {
				if !t.Before(v.expires) {
					delete(c.entries, k)
				}
			}
			c.sweepAt = 2 * len(c.entries)
		}
		kept := id
		kept.Groups = slices.Clone(id.Groups)
		c.entries[name] = cachedUser{id: kept, err: err, expires: t.Add(ttl)}
		c.mu.Unlock()
	}
	return id, err
}

// identityOf turns an os/user entry into an Identity, with its groups.
func identityOf(u *user.User) (Identity, error) {
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return Identity{}, fmt.Errorf("user %q: uid %q: %w", u.Username, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return Identity{}, fmt.Errorf("user %q: gid %q: %w", u.Username, u.Gid, err)
	}
	id := Identity{Name: u.Username, UID: uint32(uid), GID: uint32(gid), Home: u.HomeDir}
	ids, err := u.GroupIds()
	if err != nil {
		return Identity{}, fmt.Errorf("user %q: groups: %w", u.Username, err)
	}
	for _, s := range ids {
		g, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return Identity{}, fmt.Errorf("user %q: group id %q: %w", u.Username, s, err)
		}
		id.Groups = append(id.Groups, uint32(g))
	}
	return id, nil
}

// OwnIdentity is the identity this process runs with: its effective uid,
// gid and groups, with the name and home the user database gives them (the
// uid and $HOME where it has no entry).
func OwnIdentity() Identity {
	id := Identity{UID: uint32(os.Geteuid()), GID: uint32(os.Getegid())}
	id.Name = strconv.FormatUint(uint64(id.UID), 10)
	id.Home = os.Getenv("HOME")
	if u, err := user.LookupId(id.Name); err == nil {
		id.Name, id.Home = u.Username, u.HomeDir
	}
	if gs, err := os.Getgroups(); err == nil {
		for _, g := range gs {
			id.Groups = append(id.Groups, uint32(g))
		}
	}
	return id
}

// Users decides whom each job runs as.
//
// As root, gpuq-node runs a job as its submitting user, looked up in the
// node's user database (run_as: user); a user the node does not know is
// refused, or replaced by the unknown_user fallback; a user that is root
// is refused unless allow_root. run_as: node runs every job as gpuq-node's
// own user. Not root, gpuq-node cannot change users: every job runs as
// gpuq-node's own user.
type Users struct {
	cfg  UsersConfig
	db   UserDB
	self Identity
}

// NewUsers checks cfg against the user database and returns the policy.
// self is gpuq-node's own identity (OwnIdentity()); it can change users when
// self.UID is 0. A fallback user the node does not know, and any choice
// that would run every job as root without allow_root, is an error.
func NewUsers(cfg UsersConfig, db UserDB, self Identity) (*Users, error) {
	u := &Users{cfg: cfg, db: db, self: self}
	if !u.Switches() {
		return u, nil
	}
	if cfg.RunAs == RunAsNode && !cfg.AllowRoot {
		return nil, fmt.Errorf("run_as: %s as root would run every job as root: %w (allow_root: false)", RunAsNode, ErrRootUser)
	}
	if cfg.RunAs == RunAsUser && cfg.UnknownUser != UnknownUserRefuse {
		fb, err := db.LookupUser(cfg.UnknownUser)
		if err != nil {
			return nil, fmt.Errorf("unknown_user: %w", err)
		}
		if fb.UID == 0 && !cfg.AllowRoot {
			return nil, fmt.Errorf("unknown_user: user %q: %w (allow_root: false)", cfg.UnknownUser, ErrRootUser)
		}
	}
	return u, nil
}

// Switches tells whether jobs may run as users other than gpuq-node's own:
// whether gpuq-node runs as root.
func (u *Users) Switches() bool { return u.self.UID == 0 }

// Self is gpuq-node's own identity.
func (u *Users) Self() Identity { return u.self }

// Resolve returns whom a job submitted by name runs as, or why it may not
// run: errors wrap ErrUnknownUser or ErrRootUser, or say why the user
// database could not answer.
func (u *Users) Resolve(name string) (Identity, error) {
	if !u.Switches() || u.cfg.RunAs == RunAsNode {
		// gpuq-node's own identity; as root, NewUsers checked allow_root.
		return u.self, nil
	}
	id, err := u.db.LookupUser(name)
	switch {
	case errors.Is(err, ErrUnknownUser) && u.cfg.UnknownUser == UnknownUserRefuse:
		return Identity{}, fmt.Errorf("user %q: %w (unknown_user: %s)", name, ErrUnknownUser, UnknownUserRefuse)
	case errors.Is(err, ErrUnknownUser):
		if id, err = u.db.LookupUser(u.cfg.UnknownUser); err != nil {
			return Identity{}, fmt.Errorf("user %q: %w, nor is unknown_user: %w", name, ErrUnknownUser, err)
		}
	case err != nil:
		// A failing directory (LDAP down) is no reason to run the job as
		// someone else.
		return Identity{}, fmt.Errorf("user %q: %w", name, err)
	}
	if id.UID == 0 && !u.cfg.AllowRoot {
		return Identity{}, fmt.Errorf("user %q: %w (allow_root: false)", id.Name, ErrRootUser)
	}
	return id, nil
}
