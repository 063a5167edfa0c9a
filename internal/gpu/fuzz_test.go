package gpu

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gpuq/gpuq/internal/ident"
)

// FuzzParseSimulated checks that ParseSimulated never panics, and that what
// it accepts is a numbered list of simulated devices with distinct UUIDs, at
// most MaxSimulated, that the spec written back from it gives again.
func FuzzParseSimulated(f *testing.F) {
	for _, s := range []string{
		"a100:8", "a100:4,a800:4", " A100 : 1 , l40s:1", "a100", "a100:0", "a100:64", "a100:65",
		"a100:8,", ",", ":", "a100:1,a100:1", "h200:+1", "a100:0x10", "é:1", "a100:1\x00",
	} {
		f.Add("node-1", s)
	}
	f.Fuzz(func(t *testing.T, node, spec string) {
		devs, err := ParseSimulated(node, spec)
		if err != nil {
			if devs != nil {
				t.Fatalf("ParseSimulated(%q, %q) returned devices with error %v", node, spec, err)
			}
			return
		}
		if len(devs) == 0 || len(devs) > MaxSimulated {
			t.Fatalf("ParseSimulated(%q, %q): %d devices", node, spec, len(devs))
		}
		uuids := make(map[string]bool)
		var elems []string
		for i, d := range devs {
			if d.Index != i || !d.Simulated || d.Minor != -1 || !ident.GPUType(d.Type) || d.Model != "Simulated "+strings.ToUpper(d.Type) {
				t.Fatalf("ParseSimulated(%q, %q): device %d is %+v", node, spec, i, d)
			}
			if uuids[d.UUID] {
				t.Fatalf("ParseSimulated(%q, %q): UUID %s used twice", node, spec, d.UUID)
			}
			uuids[d.UUID] = true
			if i == 0 || devs[i-1].Type != d.Type {
				elems = append(elems, d.Type+":")
			}
		}
		// Write the spec back: TYPE:COUNT per run of devices.
		for i, e := range elems {
			n := 0
			for _, d := range devs {
				if d.Type+":" == e {
					n++
				}
			}
			elems[i] = fmt.Sprint(e, n)
		}
		back, err := ParseSimulated(node, strings.Join(elems, ","))
		if err != nil {
			t.Fatalf("ParseSimulated(%q, %q) read back as %q: %v", node, spec, strings.Join(elems, ","), err)
		}
		if diff := cmp.Diff(devs, back); diff != "" {
			t.Fatalf("ParseSimulated(%q, %q) read back differs (-first +second):\n%s", node, spec, diff)
		}
	})
}

// FuzzTypeMapType checks that Type never panics, that what it names is a
// valid GPU type, and that it gives the same answer twice.
func FuzzTypeMapType(f *testing.F) {
	for _, m := range []string{
		"NVIDIA A100-SXM4-40GB", "NVIDIA A10", "NVIDIA A10G", "NVIDIA H100 80GB HBM3", "NVIDIA A100 H100", "", "-", "ÿA100",
	} {
		f.Add(m, "A10G", "a10")
	}
	f.Fuzz(func(t *testing.T, model, key, typ string) {
		m := TypeMap{key: typ}
		if m.Validate() != nil {
			m = nil
		}
		got, err := m.Type(model)
		again, err2 := m.Type(model)
		if got != again || (err == nil) != (err2 == nil) {
			t.Fatalf("Type(%q) with %v: %q, %v then %q, %v", model, m, got, err, again, err2)
		}
		if err == nil && !ident.GPUType(got) {
			t.Fatalf("Type(%q) with %v = %q, not a valid GPU type", model, m, got)
		}
	})
}
