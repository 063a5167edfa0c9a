package auth

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
)

// Audit writes the audit log: one JSON object a line for every refused
// request and every change of state a principal asked for. It names
// principals and token ids, never secrets.
type Audit struct {
	mu  sync.Mutex
	log *slog.Logger
	f   *os.File
}

// OpenAudit appends to the audit log at path (mode 0600).
func OpenAudit(path string) (*Audit, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit log directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	a := NewAudit(f)
	a.f = f
	return a, nil
}

// NewAudit writes the audit log to w.
func NewAudit(w io.Writer) *Audit {
	return &Audit{log: slog.New(slog.NewJSONHandler(w, nil))}
}

// Event is one audit record.
type Event struct {
	Method    string // the RPC
	Principal *Identity
	Peer      string
	Allowed   bool
	Detail    string // what was done, or why it was refused
}

// Record writes e.
func (a *Audit) Record(e Event) {
	if a == nil {
		return
	}
	attrs := []slog.Attr{slog.String("rpc", e.Method), slog.String("principal", e.Principal.String()), slog.String("peer", e.Peer)}
	if e.Principal != nil {
		attrs = append(attrs, slog.String("auth", string(e.Principal.Method)))
		if e.Principal.TokenID != "" {
			attrs = append(attrs, slog.String("token_id", e.Principal.TokenID))
		}
	}
	decision := "denied"
	if e.Allowed {
		decision = "allowed"
	}
	attrs = append(attrs, slog.String("decision", decision), slog.String("detail", e.Detail))
	a.mu.Lock()
	defer a.mu.Unlock()
	a.log.LogAttrs(context.Background(), slog.LevelInfo, "audit", attrs...)
}

// Close closes the file OpenAudit opened.
func (a *Audit) Close() error {
	if a == nil || a.f == nil {
		return nil
	}
	return a.f.Close()
}
