package nodeagent

import (
	"errors"
	"testing"
	"time"
)

// countingUsers counts the lookups that reach a fakeUsers.
type countingUsers struct {
	db    fakeUsers
	calls map[string]int
}

func (c *countingUsers) LookupUser(name string) (Identity, error) {
	c.calls[name]++
	return c.db.LookupUser(name)
}

func TestCachedUsers(t *testing.T) {
	db := &countingUsers{db: fakeUsers{"alice": {Name: "alice", UID: 1000, GID: 1000, Groups: []uint32{1000, 27}}}, calls: map[string]int{}}
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	c := &CachedUsers{DB: db, Positive: time.Minute, Negative: 15 * time.Second, Now: func() time.Time { return now }}
	steps := []struct {
		advance time.Duration
		name    string
		unknown bool // the answer wraps ErrUnknownUser
		failed  bool // the directory failed
		calls   int  // lookups of name that reached the database so far
	}{
		{0, "alice", false, false, 1},
		{30 * time.Second, "alice", false, false, 1},
		{31 * time.Second, "alice", false, false, 2}, // a minute after the first: expired
		{0, "bob", true, false, 1},
		{14 * time.Second, "bob", true, false, 1},
		{time.Second, "bob", true, false, 2}, // 15 s: expired
		{0, "ldap-down", false, true, 1},
		{0, "ldap-down", false, true, 2}, // failures are not remembered
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		id, err := c.LookupUser(s.name)
		switch {
		case s.unknown && !errors.Is(err, ErrUnknownUser), s.failed && !errors.Is(err, errDirectory),
			!s.unknown && !s.failed && (err != nil || id.UID != 1000):
			t.Errorf("step %d: %s: %+v, %v", i, s.name, id, err)
		}
		if got := db.calls[s.name]; got != s.calls {
			t.Errorf("step %d: %d lookups of %s reached the database, want %d", i, got, s.name, s.calls)
		}
	}
	// What a caller does with the groups it got stays with it.
	id, _ := c.LookupUser("alice")
	id.Groups[0] = 0
	if again, _ := c.LookupUser("alice"); again.Groups[0] != 1000 {
		t.Errorf("the cache handed out its own groups: %v", again.Groups)
	}
}
