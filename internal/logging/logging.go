// Package logging builds the daemons' log/slog loggers from their config:
// a level (debug, info, warn, error) and a format (text or json), written to
// stderr, which systemd's journal collects.
package logging

import (
	"io"
	"log/slog"
	"strings"
)

// New returns a logger writing to w. An unknown level means info; any format
// but "json" means text.
func New(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		l = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
