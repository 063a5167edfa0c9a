package chart

import (
	"bytes"
	"encoding/xml"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// day is a day of three teams in three zones taking turns on the GPUs.
func day() *StackedBars {
	c := &StackedBars{Title: "GPU-hours by team per hour of the day", Subtitle: "2026-11-03 in UTC", YLabel: "GPU-hours"}
	sf, berlin, tokyo := make([]float64, 24), make([]float64, 24), make([]float64, 24)
	for h := range 24 {
		c.Labels = append(c.Labels, strings.Repeat("0", 2-len(itoa(h)))+itoa(h)+":00")
		switch {
		case h < 9: // Tokyo's working day
			tokyo[h] = 24
			sf[h] = float64(h % 3)
		case h < 17: // Berlin's
			berlin[h] = 20 + float64(h%4)
			tokyo[h] = 2.5
		default: // San Francisco's
			sf[h] = 30
			berlin[h] = 1.25
		}
	}
	c.Series = []Series{{"sf", sf}, {"berlin", berlin}, {"tokyo <&>", tokyo}}
	return c
}

func itoa(i int) string { return string(rune('0'+i/10)) + string(rune('0'+i%10)) }

func TestStackedBarsGolden(t *testing.T) {
	for _, tc := range []struct {
		name  string
		chart *StackedBars
	}{
		{"day.svg", day()},
		{"empty.svg", &StackedBars{Title: "Nothing ran", Labels: []string{"00:00", "01:00"}, Series: []Series{{"sf", []float64{0, 0}}}}},
		{"many.svg", func() *StackedBars {
			c := &StackedBars{Title: "A week by the hour", Width: 1200, Height: 400}
			v := make([]float64, 168)
			for i := range v {
				c.Labels = append(c.Labels, "11-0"+string(rune('1'+i/24))+" "+itoa(i%24))
				v[i] = float64(i%24) * 0.37
			}
			c.Series = []Series{{"only", v}}
			return c
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.chart.WriteSVG(&b); err != nil {
				t.Fatal(err)
			}
			checkXML(t, b.Bytes())
			golden(t, tc.name, b.Bytes())
		})
	}
}

// checkXML fails when data is not well-formed XML.
func checkXML(t *testing.T, data []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(data))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
	}
}

func TestStackedBarsErrors(t *testing.T) {
	var b bytes.Buffer
	if err := (&StackedBars{Labels: []string{"a"}, Series: []Series{{"x", []float64{1, 2}}}}).WriteSVG(&b); err == nil {
		t.Error("series longer than the labels: no error")
	}
	if err := (&StackedBars{Width: 100, Height: 100}).WriteSVG(&b); err == nil {
		t.Error("too small: no error")
	}
}

func TestAxis(t *testing.T) {
	for _, tc := range []struct{ max, top, step float64 }{
		{0, 1, 0.2}, {1, 1, 0.2}, {4.2, 5, 1}, {7, 8, 2}, {33, 40, 10}, {100, 100, 20}, {101, 120, 20}, {0.03, 0.03, 0.005}, {60, 60, 10},
	} {
		top, step := axis(tc.max)
		if !close(top, tc.top) || !close(step, tc.step) {
			t.Errorf("axis(%v) = %v, %v; want %v, %v", tc.max, top, step, tc.top, tc.step)
		}
	}
}

func close(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// FuzzEscape checks escape against encoding/xml's EscapeText, which it
// replaces.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "GPU-hours", `a<b>&"c'`, "tab\tnl\ncr\r", "\x00\x1f", "\xff\xfe", "zürich 東京", "\uFFFE\U0010FFFF"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want strings.Builder
		if err := xml.EscapeText(&want, []byte(s)); err != nil {
			t.Fatal(err)
		}
		if got := escape(s); got != want.String() {
			t.Errorf("escape(%q) = %q, encoding/xml says %q", s, got, want.String())
		}
	})
}
