package batch

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseTimeLimit(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "10", want: 10 * time.Minute},
		{in: "0", want: 0},
		{in: "90", want: 90 * time.Minute},
		{in: "5:30", want: 5*time.Minute + 30*time.Second},
		{in: "90:00", want: 90 * time.Minute},
		{in: "1:30:00", want: 90 * time.Minute},
		{in: "48:00:00", want: 48 * time.Hour},
		{in: "1-0", want: 24 * time.Hour},
		{in: "2-12", want: 60 * time.Hour},
		{in: "1-02:30", want: 26*time.Hour + 30*time.Minute},
		{in: "1-02:30:15", want: 26*time.Hour + 30*time.Minute + 15*time.Second},
		{in: "007", want: 7 * time.Minute},
		{in: "UNLIMITED", want: 0},
		{in: "infinite", want: 0},
		{in: "36500-0", want: 36500 * 24 * time.Hour},
		{in: "", wantErr: true},
		{in: "2:xx:00", wantErr: true},
		{in: "1:60", wantErr: true},
		{in: "1:75:00", wantErr: true},
		{in: "1:00:60", wantErr: true},
		{in: "1-24", wantErr: true},
		{in: "1-2:3:4:5", wantErr: true},
		{in: "1:2:3:4", wantErr: true},
		{in: "-5", wantErr: true},
		{in: "1-", wantErr: true},
		{in: "1--2", wantErr: true},
		{in: "a", wantErr: true},
		{in: " 10", wantErr: true},
		{in: "+10", wantErr: true},
		{in: "1e3", wantErr: true},
		{in: "1:", wantErr: true},
		{in: "9999999999", wantErr: true},
		{in: "36501-0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTimeLimit(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseTimeLimit(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseTimeLimit(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// formatTimeLimit writes d as D-HH:MM:SS, a form ParseTimeLimit reads back.
func formatTimeLimit(d time.Duration) string {
	s := int64(d / time.Second)
	return fmt.Sprintf("%d-%02d:%02d:%02d", s/86400, s/3600%24, s/60%60, s%60)
}

func FuzzParseTimeLimit(f *testing.F) {
	for _, s := range []string{"10", "5:30", "1:30:00", "1-0", "2-12:30", "1-02:30:15", "UNLIMITED", "2:xx:00", "36500-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseTimeLimit(s)
		if err != nil {
			return
		}
		if d < 0 || d > maxTimeLimit || d%time.Second != 0 {
			t.Fatalf("ParseTimeLimit(%q) = %v: out of range or not whole seconds", s, d)
		}
		again, err := ParseTimeLimit(formatTimeLimit(d))
		if err != nil || again != d {
			t.Fatalf("ParseTimeLimit(%q) = %v; reparsing %q gave %v, %v", s, d, formatTimeLimit(d), again, err)
		}
	})
}

func TestParseGPUs(t *testing.T) {
	type result struct {
		Type  string
		Count uint32
	}
	tests := []struct {
		in      string
		want    result
		wantErr bool
	}{
		{in: "4", want: result{Count: 4}},
		{in: "a100:4", want: result{"a100", 4}},
		{in: "gpu:4", want: result{Count: 4}},
		{in: "gpu:a100:4", want: result{"a100", 4}},
		{in: "gpu", want: result{Count: 1}},
		{in: "a100", want: result{"a100", 1}},
		{in: "gpu:a100", want: result{"a100", 1}},
		{in: "h100-80gb_sxm.5:8", want: result{"h100-80gb_sxm.5", 8}},
		{in: "", wantErr: true},
		{in: "0", wantErr: true},
		{in: "a100:0", wantErr: true},
		{in: "gpu:0", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "a100:-1", wantErr: true},
		{in: "a100:4:1", wantErr: true},
		{in: ":4", wantErr: true},
		{in: "4:a100", wantErr: true},
		{in: "gpu::4", wantErr: true},
		{in: "gpu:", wantErr: true},
		{in: "a 100:4", wantErr: true},
		{in: "a100:x", wantErr: true},
		{in: "4294967296", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			typ, n, err := ParseGPUs(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseGPUs(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, result{typ, n}); diff != "" {
				t.Errorf("ParseGPUs(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func FuzzParseGPUs(f *testing.F) {
	for _, s := range []string{"4", "a100:4", "gpu:4", "gpu:a100:4", "gpu", "a100", "a100:0", "gpu::4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		typ, n, err := ParseGPUs(s)
		if err != nil {
			return
		}
		if n == 0 {
			t.Fatalf("ParseGPUs(%q) gave count 0", s)
		}
		form := "gpu:" + strconv.FormatUint(uint64(n), 10)
		if typ != "" {
			form = "gpu:" + typ + ":" + strconv.FormatUint(uint64(n), 10)
		}
		typ2, n2, err := ParseGPUs(form)
		if err != nil || typ2 != typ || n2 != n {
			t.Fatalf("ParseGPUs(%q) = %q, %d; reparsing %q gave %q, %d, %v", s, typ, n, form, typ2, n2, err)
		}
	})
}

func TestParseMemory(t *testing.T) {
	tests := []struct {
		in      string
		want    uint64
		wantErr bool
	}{
		{in: "16G", want: 16 << 30},
		{in: "512M", want: 512 << 20},
		{in: "1T", want: 1 << 40},
		{in: "1024", want: 1024 << 20},
		{in: "100K", want: 100 << 10},
		{in: "16GB", want: 16 << 30},
		{in: "16g", want: 16 << 30},
		{in: "0", want: 0},
		{in: "16777215T", want: 16777215 << 40},
		{in: "", wantErr: true},
		{in: "G", wantErr: true},
		{in: "1.5G", wantErr: true},
		{in: "16X", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "+1", wantErr: true},
		{in: "16B", wantErr: true},
		{in: "16GiB", wantErr: true},
		{in: "16 G", wantErr: true},
		{in: "99999999999999999999", wantErr: true},
		{in: "16777216T", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMemory(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseMemory(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseMemory(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func FuzzParseMemory(f *testing.F) {
	for _, s := range []string{"16G", "512M", "1T", "1024", "100K", "16GB", "1.5G", "16777216T"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseMemory(s)
		if err != nil || n%1024 != 0 {
			if err == nil {
				t.Fatalf("ParseMemory(%q) = %d, not whole KiB", s, n)
			}
			return
		}
		form := strconv.FormatUint(n>>10, 10) + "K"
		again, err := ParseMemory(form)
		if err != nil || again != n {
			t.Fatalf("ParseMemory(%q) = %d; reparsing %q gave %d, %v", s, n, form, again, err)
		}
	})
}
