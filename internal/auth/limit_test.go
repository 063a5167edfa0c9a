package auth

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRateLimiter(t *testing.T) {
	type step struct {
		key  string
		at   time.Duration // after t0
		ok   bool
		wait time.Duration
	}
	tests := []struct {
		name  string
		rate  float64
		burst int
		steps []step
	}{
		{
			name: "burst, then refused with the wait for the next token", rate: 2, burst: 3,
			steps: []step{
				{key: "alice", ok: true}, {key: "alice", ok: true}, {key: "alice", ok: true},
				{key: "alice", wait: 500 * time.Millisecond},
				{key: "alice", wait: 500 * time.Millisecond}, // refusals take nothing
				{key: "alice", at: 250 * time.Millisecond, wait: 250 * time.Millisecond},
				{key: "alice", at: 500 * time.Millisecond, ok: true},
				{key: "alice", at: 500 * time.Millisecond, wait: 500 * time.Millisecond},
			},
		},
		{
			name: "refills over time, never beyond the burst", rate: 2, burst: 3,
			steps: []step{
				{key: "alice", ok: true}, {key: "alice", ok: true}, {key: "alice", ok: true},
				{key: "alice", at: time.Hour, ok: true}, {key: "alice", at: time.Hour, ok: true}, {key: "alice", at: time.Hour, ok: true},
				{key: "alice", at: time.Hour, wait: 500 * time.Millisecond},
				{key: "alice", at: time.Hour + time.Second, ok: true}, {key: "alice", at: time.Hour + time.Second, ok: true},
				{key: "alice", at: time.Hour + time.Second, wait: 500 * time.Millisecond},
			},
		},
		{
			name: "keys are independent", rate: 1, burst: 1,
			steps: []step{
				{key: "alice", ok: true},
				{key: "alice", wait: time.Second},
				{key: "bob", ok: true},
				{key: "bob", wait: time.Second},
				{key: "", ok: true},
				{key: "alice", at: time.Second, ok: true},
				{key: "bob", at: 500 * time.Millisecond, wait: 500 * time.Millisecond},
			},
		},
		{
			name: "a burst of 0 is 1", rate: 4, burst: 0,
			steps: []step{
				{key: "alice", ok: true},
				{key: "alice", wait: 250 * time.Millisecond},
				{key: "alice", at: time.Hour, ok: true},
				{key: "alice", at: time.Hour, wait: 250 * time.Millisecond},
			},
		},
		{
			name: "slow rate", rate: 0.5, burst: 1,
			steps: []step{
				{key: "alice", ok: true},
				{key: "alice", wait: 2 * time.Second},
				{key: "alice", at: time.Second, wait: time.Second},
				{key: "alice", at: 2 * time.Second, ok: true},
			},
		},
		{
			name: "a clock going back adds nothing", rate: 1, burst: 1,
			steps: []step{
				{key: "alice", at: time.Hour, ok: true},
				{key: "alice", at: 0, wait: time.Second},
				{key: "alice", at: time.Hour, wait: time.Second},
				{key: "alice", at: time.Hour + time.Second, ok: true},
			},
		},
		{
			name: "rate 0 never limits", rate: 0, burst: 1,
			steps: []step{{key: "alice", ok: true}, {key: "alice", ok: true}, {key: "alice", ok: true}, {key: "alice", ok: true}},
		},
		{
			name: "negative rate never limits", rate: -1, burst: 0,
			steps: []step{{key: "alice", ok: true}, {key: "alice", ok: true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &RateLimiter{Rate: tt.rate, Burst: tt.burst}
			var want, got []step
			for _, s := range tt.steps {
				ok, wait := l.Allow(s.key, t0.Add(s.at))
				want = append(want, s)
				got = append(got, step{key: s.key, at: s.at, ok: ok, wait: wait})
			}
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(step{})); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRateLimiterNil(t *testing.T) {
	var l *RateLimiter
	for range 3 {
		if ok, wait := l.Allow("alice", t0); !ok || wait != 0 {
			t.Errorf("nil limiter: Allow = %v, %v; want true, 0", ok, wait)
		}
	}
}

// Allow may be called from many goroutines (run with -race); the tokens
// handed out never exceed the burst.
func TestRateLimiterConcurrent(t *testing.T) {
	l := &RateLimiter{Rate: 1, Burst: 10}
	var mu sync.Mutex
	allowed := map[string]int{}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			key := []string{"alice", "bob"}[i%2]
			for range 20 {
				if ok, _ := l.Allow(key, t0); ok {
					mu.Lock()
					allowed[key]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if diff := cmp.Diff(map[string]int{"alice": 10, "bob": 10}, allowed); diff != "" {
		t.Errorf("allowed (-want +got):\n%s", diff)
	}
}
