package ctl

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in      string
		want    []item
		wantErr string
	}{
		{in: "", want: nil},
		{in: "%i", want: []item{{code: 'i'}}},
		{in: "%.18i %9P|%j", want: []item{
			{code: 'i', width: 18, right: true}, {text: " "}, {code: 'P', width: 9}, {text: "|"}, {code: 'j'},
		}},
		{in: "id=%i%%done%0j", want: []item{{text: "id="}, {code: 'i'}, {text: "%done"}, {code: 'j'}}},
		{in: "%%", want: []item{{text: "%"}}},
		{in: "%.1024R", want: []item{{code: 'R', width: 1024, right: true}}},
		{in: "%", wantErr: `format "%": "%" ends without a field code`},
		{in: "%.18", wantErr: `format "%.18": "%.18" ends without a field code`},
		{in: "%.i", wantErr: `format "%.i": "%." needs a width after the '.'`},
		{in: "%z", wantErr: `format "%z": unknown field code %z (see gpuqctl queue --help)`},
		{in: "%é", wantErr: `format "%é": unknown field code %é (see gpuqctl queue --help)`},
		{in: "%1025i", wantErr: `format "%1025i": width 1025 is more than 1024`},
		{in: "%99999999999999999999i", wantErr: `format "%99999999999999999999i": width 99999999999999999999 is more than 1024`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseFormat(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("parseFormat(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(item{})); diff != "" {
				t.Errorf("parseFormat(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestPad(t *testing.T) {
	tests := []struct {
		s     string
		width int
		right bool
		want  string
	}{
		{"abc", 0, false, "abc"},
		{"abc", 5, false, "abc  "},
		{"abc", 5, true, "  abc"},
		{"abcdef", 4, false, "abcd"},
		{"abcdef", 4, true, "abcd"},
		{"héllo wörld", 7, true, "héllo w"},
		{"", 2, true, "  "},
	}
	for _, tt := range tests {
		var b strings.Builder
		w := lineWriter{b: &b}
		pad(&w, tt.s, tt.width, tt.right)
		w.writeBlanks()
		if b.String() != tt.want {
			t.Errorf("pad(%q, %d, %v) = %q, want %q", tt.s, tt.width, tt.right, b.String(), tt.want)
		}
	}
}

func TestDurations(t *testing.T) {
	tests := []struct {
		d        time.Duration
		squeue   string
		scontrol string
	}{
		{0, "0:00", "00:00:00"},
		{-time.Minute, "0:00", "00:00:00"},
		{999 * time.Millisecond, "0:00", "00:00:00"},
		{59 * time.Second, "0:59", "00:00:59"},
		{time.Minute, "1:00", "00:01:00"},
		{59*time.Minute + 59*time.Second, "59:59", "00:59:59"},
		{time.Hour, "1:00:00", "01:00:00"},
		{time.Hour + time.Minute + time.Second, "1:01:01", "01:01:01"},
		{23*time.Hour + 59*time.Minute + 59*time.Second, "23:59:59", "23:59:59"},
		{24 * time.Hour, "1-00:00:00", "1-00:00:00"},
		{75*time.Hour + 5*time.Second, "3-03:00:05", "3-03:00:05"},
		{400 * 24 * time.Hour, "400-00:00:00", "400-00:00:00"},
	}
	for _, tt := range tests {
		if got := squeueDuration(tt.d); got != tt.squeue {
			t.Errorf("squeueDuration(%v) = %q, want %q", tt.d, got, tt.squeue)
		}
		if got := slurmDuration(tt.d); got != tt.scontrol {
			t.Errorf("slurmDuration(%v) = %q, want %q", tt.d, got, tt.scontrol)
		}
	}
}

func TestElapsed(t *testing.T) {
	start := at(-90 * time.Second)
	tests := []struct {
		name string
		job  *gpuqv1.Job
		want time.Duration
	}{
		{"pending", &gpuqv1.Job{State: gpuqv1.JobState_JOB_STATE_PENDING}, 0},
		{"requeued keeps old start", &gpuqv1.Job{State: gpuqv1.JobState_JOB_STATE_PENDING, StartTime: start}, 0},
		{"running", &gpuqv1.Job{State: gpuqv1.JobState_JOB_STATE_RUNNING, StartTime: start}, 90 * time.Second},
		{"running, clock behind", &gpuqv1.Job{State: gpuqv1.JobState_JOB_STATE_RUNNING, StartTime: at(time.Minute)}, 0},
		{"completing", &gpuqv1.Job{State: gpuqv1.JobState_JOB_STATE_COMPLETING, StartTime: start}, 90 * time.Second},
		{"ended", &gpuqv1.Job{State: gpuqv1.JobState_JOB_STATE_COMPLETED, StartTime: start, EndTime: at(-30 * time.Second)}, time.Minute},
		{"ended without end", &gpuqv1.Job{State: gpuqv1.JobState_JOB_STATE_FAILED, StartTime: start}, 0},
		{"cancelled before start", &gpuqv1.Job{State: gpuqv1.JobState_JOB_STATE_CANCELLED, EndTime: start}, 0},
	}
	for _, tt := range tests {
		if got := elapsed(tt.job, testNow); got != tt.want {
			t.Errorf("%s: elapsed = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestTaskRanges(t *testing.T) {
	tests := []struct {
		ids  []uint32
		want string
	}{
		{nil, ""},
		{[]uint32{7}, "7"},
		{[]uint32{1, 2}, "1-2"},
		{[]uint32{0, 1, 2, 4, 6, 7, 8, 100}, "0-2,4,6-8,100"},
	}
	for _, tt := range tests {
		if got := taskRanges(tt.ids); got != tt.want {
			t.Errorf("taskRanges(%v) = %q, want %q", tt.ids, got, tt.want)
		}
	}
}

func TestMemoryString(t *testing.T) {
	for b, want := range map[uint64]string{0: "N/A", 1000: "1000", 1 << 10: "1K", 512 << 20: "512M", 32 << 30: "32G", 3 << 40: "3T", 1536 << 20: "1536M"} {
		if got := memoryString(b); got != want {
			t.Errorf("memoryString(%d) = %q, want %q", b, got, want)
		}
	}
}

// FuzzParseFormat checks that any format either fails to parse or renders
// every kind of line, and that a parsed format spells back to itself.
func FuzzParseFormat(f *testing.F) {
	for _, s := range []string{defaultQueueFormat, "%i|%j", "%%", "%.5t%-3i", "x%.1024R", "%", "%.", "%1025i", "%ü", "%%%%i"} {
		f.Add(s)
	}
	views := sampleViews()
	f.Fuzz(func(t *testing.T, s string) {
		items, err := parseFormat(s)
		if err != nil {
			return
		}
		again, err := parseFormat(formatString(items))
		if err != nil {
			t.Fatalf("formatString(parseFormat(%q)) = %q does not parse: %v", s, formatString(items), err)
		}
		if !cmp.Equal(merge(items), merge(again), cmp.AllowUnexported(item{})) {
			t.Fatalf("round trip of %q: %v != %v", s, items, again)
		}
		var b strings.Builder
		renderLine(&b, items, nil)
		for _, v := range views {
			renderLine(&b, items, v)
		}
		perLine := 1
		for _, it := range items {
			perLine += strings.Count(it.text, "\n")
		}
		if n, want := strings.Count(b.String(), "\n"), perLine*(len(views)+1); n != want {
			t.Fatalf("format %q gave %d lines, want %d", s, n, want)
		}
	})
}

// merge joins adjacent text items, which a round trip may split differently.
func merge(items []item) []item {
	var out []item
	for _, it := range items {
		if n := len(out); n > 0 && it.code == 0 && out[n-1].code == 0 {
			out[n-1].text += it.text
			continue
		}
		out = append(out, it)
	}
	return out
}

func sampleViews() []*view {
	var views []*view
	for _, j := range fixtureJobs() {
		views = append(views, &view{job: j, now: testNow, loc: testZone})
	}
	arr := proto.CloneOf(views[len(views)-1].job)
	views = append(views,
		&view{job: arr, tasks: []uint32{3, 4, 5, 9}, now: testNow, loc: testZone},
		&view{job: &gpuqv1.Job{}, now: testNow, loc: testZone}, // no spec at all
	)
	return views
}
