package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Options configure a Sender.
type Options struct {
	// URL is the endpoint: an absolute http or https URL.
	URL string
	// Timeout bounds each attempt (default 5s).
	Timeout time.Duration
	// Attempts is how many times a delivery is tried (default 3).
	Attempts int
	// Backoff is the wait before the second attempt, doubled before each
	// one after it (default 1s).
	Backoff time.Duration
	// Client sends the requests (default: a client of its own).
	Client *http.Client
	// UserAgent is the requests' User-Agent (default "gpuq").
	UserAgent string
}

// Sender posts payloads to one endpoint. It is safe for concurrent use.
type Sender struct {
	opts Options
	url  string
	host string
}

// ErrInvalidURL is a URL a Sender cannot post to.
var ErrInvalidURL = errors.New("invalid webhook URL")

// New checks opts.URL and returns a Sender for it.
func New(opts Options) (*Sender, error) {
	if err := CheckURL(opts.URL); err != nil {
		return nil, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 3
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "gpuq"
	}
	return &Sender{opts: opts, url: opts.URL, host: Redact(opts.URL)}, nil
}

// CheckURL reports whether u is an absolute http or https URL with a host.
// Its error does not repeat u.
func CheckURL(u string) error {
	p, err := url.Parse(u)
	switch {
	case err != nil:
		return fmt.Errorf("%w: it does not parse", ErrInvalidURL)
	case p.Scheme != "http" && p.Scheme != "https":
		return fmt.Errorf("%w: want an http or https URL", ErrInvalidURL)
	case p.Host == "":
		return fmt.Errorf("%w: it has no host", ErrInvalidURL)
	}
	return nil
}

// Redact returns u without anything that may be a secret: its scheme and
// host only, such as "https://hooks.slack.com/...".
func Redact(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return "(webhook)"
	}
	out := p.Scheme + "://" + p.Host
	if p.Path != "" && p.Path != "/" || p.RawQuery != "" {
		out += "/..."
	}
	return out
}

// Endpoint is the Sender's URL as Redact writes it.
func (s *Sender) Endpoint() string { return s.host }

// StatusError is an answer other than 2xx.
type StatusError struct {
	Code int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("answered %d %s", e.Code, http.StatusText(e.Code))
}

// retryable reports whether another attempt may succeed.
func (e *StatusError) retryable() bool {
	return e.Code == http.StatusRequestTimeout || e.Code == http.StatusTooManyRequests || e.Code >= 500
}

// Post sends body, encoded as JSON, until the endpoint answers 2xx, the
// attempts are used up, the error is one a retry cannot fix (another 4xx),
// or ctx ends. id is sent as the Idempotency-Key header. It returns how
// many attempts it made and, when none succeeded, the last error, which
// names the endpoint as Redact writes it.
func (s *Sender) Post(ctx context.Context, id string, body any) (int, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return 0, fmt.Errorf("webhook %s: encode payload: %w", s.host, err)
	}
	wait := s.opts.Backoff
	for attempt := 1; ; attempt++ {
		err = s.once(ctx, id, data)
		if err == nil {
			return attempt, nil
		}
		var se *StatusError
		if attempt == s.opts.Attempts || errors.As(err, &se) && !se.retryable() || ctx.Err() != nil {
			return attempt, fmt.Errorf("webhook %s: attempt %d of %d: %w", s.host, attempt, s.opts.Attempts, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return attempt, fmt.Errorf("webhook %s: attempt %d of %d: %w (then %w)", s.host, attempt, s.opts.Attempts, err, ctx.Err())
		case <-t.C:
		}
		wait *= 2
	}
}

// once makes one attempt.
func (s *Sender) once(ctx context.Context, id string, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(data))
	if err != nil {
		return errors.New("cannot build the request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.opts.UserAgent)
	if id != "" {
		req.Header.Set("Idempotency-Key", id)
	}
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		// A *url.Error repeats the whole URL: keep only what went wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return fmt.Errorf("no answer within %s", s.opts.Timeout)
		}
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	if resp.StatusCode/100 != 2 {
		return &StatusError{Code: resp.StatusCode}
	}
	return nil
}
