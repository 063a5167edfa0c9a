package reclog

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

func lines(b []byte) []string {
	var out []string
	for _, l := range Lines(b) {
		out = append(out, string(l))
	}
	return out
}

func TestLines(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a\n", []string{"a"}},
		{"a\nb\n", []string{"a", "b"}},
		{"a\n\nb\n", []string{"a", "b"}},
		{"a\nb", []string{"a"}}, // b was cut short
		{"\n\n", nil},
	}
	for _, tt := range tests {
		if got := lines([]byte(tt.in)); !slices.Equal(got, tt.want) {
			t.Errorf("Lines(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzLines(f *testing.F) {
	f.Add([]byte("a\nb\n"))
	f.Add([]byte("x\n\ny"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var n int
		for i, l := range Lines(b) {
			if i <= n || len(l) == 0 || bytes.IndexByte(l, '\n') >= 0 {
				t.Fatalf("line %d %q after %d", i, l, n)
			}
			n = i
		}
		// Every complete non-empty line, and only those.
		want := 0
		parts := bytes.Split(b, []byte{'\n'})
		for _, p := range parts[:len(parts)-1] {
			if len(p) > 0 {
				want++
			}
		}
		if got := len(lines(b)); got != want {
			t.Fatalf("%d lines, want %d", got, want)
		}
	})
}

func TestAppendReopenRewrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	l, b, err := Open(path)
	if err != nil || len(b) != 0 {
		t.Fatalf("Open: %q, %v", b, err)
	}
	if err := l.Append([]byte("one"), false); err != nil {
		t.Fatal(err)
	}
	if err := l.Append([]byte("two"), true); err != nil {
		t.Fatal(err)
	}
	if err := l.Append([]byte("a\nb"), false); err == nil {
		t.Error("a record with a newline was taken")
	}
	l.Close()
	// A crash cut the last record short.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"torn`)
	f.Close()
	l, b, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := lines(b); !slices.Equal(got, []string{"one", "two"}) || l.Records() != 2 {
		t.Fatalf("after reopen: %q (%d records)", got, l.Records())
	}
	if err := l.Append([]byte("three"), true); err != nil {
		t.Fatal(err)
	}
	b, _ = Read(path)
	if got := lines(b); !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Fatalf("the torn line swallowed a record: %q", got)
	}
	if err := l.Rewrite(func() ([][]byte, error) { return [][]byte{[]byte("three")}, nil }); err != nil {
		t.Fatal(err)
	}
	l.Append([]byte("four"), false)
	b, _ = Read(path)
	if got := lines(b); !slices.Equal(got, []string{"three", "four"}) || l.Records() != 2 {
		t.Fatalf("after rewrite: %q (%d records)", got, l.Records())
	}
	if err := l.Rewrite(func() ([][]byte, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	l.Append([]byte("five"), true)
	b, _ = Read(path)
	if got := lines(b); !slices.Equal(got, []string{"five"}) || l.Records() != 1 {
		t.Fatalf("after emptying: %q (%d records)", got, l.Records())
	}
	if b, err := Read(filepath.Join(t.TempDir(), "missing")); err != nil || b != nil {
		t.Errorf("Read of a missing log: %q, %v", b, err)
	}
}

// TestConcurrentAppends: durable appends from many goroutines all land,
// whole, each on a line of its own.
func TestConcurrentAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	l, _, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				if err := l.Append(fmt.Appendf(nil, "g%d-%d", g, i), i%2 == 0); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	b, _ := Read(path)
	got := lines(b)
	slices.Sort(got)
	var want []string
	for g := range 8 {
		for i := range 50 {
			want = append(want, fmt.Sprintf("g%d-%d", g, i))
		}
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
}

func TestAppendAfterClose(t *testing.T) {
	l, _, err := Open(filepath.Join(t.TempDir(), "x.log"))
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if err := l.Append([]byte("late"), true); err == nil {
		t.Error("an append after Close was taken")
	}
	if err := l.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}

func TestCompactionDue(t *testing.T) {
	l, _, err := Open(filepath.Join(t.TempDir(), "x.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range CompactAfter - 1 {
		l.Append([]byte("r"), false)
	}
	if l.CompactionDue(0) {
		t.Errorf("due at %d records", l.Records())
	}
	l.Append([]byte("r"), false)
	for _, tt := range []struct {
		live int
		want bool
	}{{0, true}, {CompactAfter / CompactRatio, true}, {CompactAfter/CompactRatio + 1, false}} {
		if got := l.CompactionDue(tt.live); got != tt.want {
			t.Errorf("CompactionDue(%d) at %d records = %v, want %v", tt.live, l.Records(), got, tt.want)
		}
	}
}
