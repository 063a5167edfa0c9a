package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// endpoint answers each request with the next of codes (the last one
// again when they run out), after sleeping the matching delay, and keeps
// what it was sent.
type endpoint struct {
	mu     sync.Mutex
	codes  []int
	delays []time.Duration
	got    []request
}

type request struct {
	Path, ContentType, Key string
	Body                   map[string]any
}

func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	e.mu.Lock()
	n := len(e.got)
	e.got = append(e.got, request{r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Idempotency-Key"), m})
	code := e.codes[min(n, len(e.codes)-1)]
	var delay time.Duration
	if n < len(e.delays) {
		delay = e.delays[n]
	}
	e.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	w.WriteHeader(code)
}

func TestPost(t *testing.T) {
	const secret = "/services/T000/B000/SECRETTOKEN"
	for _, tc := range []struct {
		name         string
		codes        []int
		delays       []time.Duration
		wantAttempts int
		wantStatus   int  // the StatusError of the failure; 0: none
		wantErr      bool // failed
	}{
		{name: "first try", codes: []int{204}, wantAttempts: 1},
		{name: "retried after 503 and 500", codes: []int{503, 500, 200}, wantAttempts: 3},
		{name: "retried after 429", codes: []int{429, 200}, wantAttempts: 2},
		{name: "retried after a timeout", codes: []int{200}, delays: []time.Duration{time.Second}, wantAttempts: 2},
		{name: "gives up after the attempts", codes: []int{502}, wantAttempts: 3, wantStatus: 502, wantErr: true},
		{name: "no retry of a 404", codes: []int{404}, wantAttempts: 1, wantStatus: 404, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := &endpoint{codes: tc.codes, delays: tc.delays}
			srv := httptest.NewServer(ep)
			defer srv.Close()
			s, err := New(Options{URL: srv.URL + secret, Timeout: 100 * time.Millisecond, Backoff: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			n, err := s.Post(context.Background(), "sf/2026-11/80", map[string]any{"team": "sf", "percent": 80})
			if n != tc.wantAttempts {
				t.Errorf("attempts = %d, want %d", n, tc.wantAttempts)
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			var se *StatusError
			if tc.wantStatus != 0 && (!errors.As(err, &se) || se.Code != tc.wantStatus) {
				t.Errorf("err = %v, want a StatusError %d", err, tc.wantStatus)
			}
			if err != nil && strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error %q shows the URL's secret", err)
			}
			ep.mu.Lock()
			defer ep.mu.Unlock()
			if len(ep.got) != tc.wantAttempts {
				t.Fatalf("endpoint got %d requests, want %d", len(ep.got), tc.wantAttempts)
			}
			want := request{Path: secret, ContentType: "application/json", Key: "sf/2026-11/80", Body: map[string]any{"team": "sf", "percent": 80.0}}
			for _, r := range ep.got {
				if diff := cmp.Diff(want, r); diff != "" {
					t.Errorf("request (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestPostUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/hook?token=SECRET"
	srv.Close() // nothing listens there now
	s, err := New(Options{URL: url, Attempts: 2, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Post(context.Background(), "", map[string]int{"a": 1})
	if n != 2 || err == nil {
		t.Fatalf("Post = %d, %v; want 2 attempts and an error", n, err)
	}
	if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "/hook") {
		t.Errorf("error %q shows the URL's path or query", err)
	}
}

func TestPostCancelled(t *testing.T) {
	ep := &endpoint{codes: []int{500}}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	s, err := New(Options{URL: srv.URL, Attempts: 5, Backoff: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	n, err := s.Post(ctx, "", struct{}{})
	if n != 1 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Post = %d, %v; want 1 attempt and the context's error", n, err)
	}
}

func TestURLs(t *testing.T) {
	for _, tc := range []struct {
		url, redacted string
		valid         bool
	}{
		{"https://hooks.slack.com/services/T0/B0/XYZ", "https://hooks.slack.com/...", true},
		{"http://127.0.0.1:9000", "http://127.0.0.1:9000", true},
		{"http://127.0.0.1:9000/", "http://127.0.0.1:9000", true},
		{"https://user:pass@example.com/x?token=1", "https://example.com/...", true},
		{"https://example.com?token=1", "https://example.com/...", true},
		{"ftp://example.com/x", "ftp://example.com/...", false},
		{"example.com/hook", "(webhook)", false},
		{"https://", "(webhook)", false},
		{"http://[::1", "(webhook)", false},
	} {
		if got := Redact(tc.url); got != tc.redacted {
			t.Errorf("Redact(%q) = %q, want %q", tc.url, got, tc.redacted)
		}
		err := CheckURL(tc.url)
		if (err == nil) != tc.valid {
			t.Errorf("CheckURL(%q) = %v, want valid %v", tc.url, err, tc.valid)
		}
		if err != nil && !errors.Is(err, ErrInvalidURL) {
			t.Errorf("CheckURL(%q) = %v, want ErrInvalidURL", tc.url, err)
		}
		if _, err := New(Options{URL: tc.url}); (err == nil) != tc.valid {
			t.Errorf("New(%q) = %v, want valid %v", tc.url, err, tc.valid)
		}
	}
}
