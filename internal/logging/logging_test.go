package logging

import (
	"bytes"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	tests := []struct {
		level, format string
		debugShown    bool
		want          string
	}{
		{"debug", "text", true, "level=INFO msg=hello"},
		{"info", "json", false, `"msg":"hello"`},
		{"bogus", "", false, "level=INFO msg=hello"},
	}
	for _, tt := range tests {
		t.Run(tt.level+"/"+tt.format, func(t *testing.T) {
			var b bytes.Buffer
			log := New(&b, tt.level, tt.format)
			log.Debug("detail")
			log.Info("hello")
			if got := strings.Contains(b.String(), "detail"); got != tt.debugShown {
				t.Errorf("debug shown = %v, want %v:\n%s", got, tt.debugShown, b.String())
			}
			if !strings.Contains(b.String(), tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, b.String())
			}
		})
	}
}
