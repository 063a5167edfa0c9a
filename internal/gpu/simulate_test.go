package gpu

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
)

func TestParseSimulated(t *testing.T) {
	sim := func(i int, typ, model string, mem uint64) Device {
		return Device{Index: i, Model: model, Type: typ, MemoryBytes: mem, Minor: -1, Simulated: true}
	}
	tests := []struct {
		spec string
		want []Device
	}{
		{"a100:2", []Device{sim(0, "a100", "Simulated A100", 80<<30), sim(1, "a100", "Simulated A100", 80<<30)}},
		{"a100:1,a800:2", []Device{
			sim(0, "a100", "Simulated A100", 80<<30),
			sim(1, "a800", "Simulated A800", 80<<30),
			sim(2, "a800", "Simulated A800", 80<<30),
		}},
		{" A100 : 1 , l40s:1", []Device{sim(0, "a100", "Simulated A100", 80<<30), sim(1, "l40s", "Simulated L40S", 48<<30)}},
		{"h200:1,h100:1,h800:1,a10:1", []Device{
			sim(0, "h200", "Simulated H200", 141<<30),
			sim(1, "h100", "Simulated H100", 80<<30),
			sim(2, "h800", "Simulated H800", 80<<30),
			sim(3, "a10", "Simulated A10", 24<<30),
		}},
		// A type gpuq knows no memory of.
		{"rtx-6000:1", []Device{sim(0, "rtx-6000", "Simulated RTX-6000", 0)}},
		{"a100:64", nil}, // the most; only its length is checked
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseSimulated("node-1", tt.spec)
			if err != nil {
				t.Fatalf("ParseSimulated: %v", err)
			}
			if tt.want == nil {
				if len(got) != MaxSimulated {
					t.Errorf("got %d devices, want %d", len(got), MaxSimulated)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(Device{}, "UUID")); diff != "" {
				t.Errorf("ParseSimulated (-want +got):\n%s", diff)
			}
			checkSimulatedUUIDs(t, got)
		})
	}
}

// checkSimulatedUUIDs checks that devs have distinct UUIDs in NVML's form.
func checkSimulatedUUIDs(t *testing.T, devs []Device) {
	t.Helper()
	seen := make(map[string]bool)
	for _, d := range devs {
		rest, ok := strings.CutPrefix(d.UUID, "GPU-")
		if _, err := uuid.Parse(rest); !ok || err != nil {
			t.Errorf("device %d: UUID %q is not GPU-<uuid>", d.Index, d.UUID)
		}
		if seen[d.UUID] {
			t.Errorf("device %d: UUID %q used twice", d.Index, d.UUID)
		}
		seen[d.UUID] = true
	}
}

func TestParseSimulatedUUIDs(t *testing.T) {
	a1, err := ParseSimulated("a", "a100:8")
	if err != nil {
		t.Fatal(err)
	}
	a2, err := ParseSimulated("a", "a100:8")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a1, a2); diff != "" {
		t.Errorf("same node and spec, different devices (-first +second):\n%s", diff)
	}
	b, err := ParseSimulated("b", "a100:8")
	if err != nil {
		t.Fatal(err)
	}
	checkSimulatedUUIDs(t, append(a1, b...))
}

func TestParseSimulatedErrors(t *testing.T) {
	tests := []struct {
		node, spec string
		elem       string // the bad element, which the error must quote
	}{
		{"n", "", ""},
		{"n", "  ", ""},
		{"", "a100:8", ""},
		{"n", "a100", `"a100"`},
		{"n", "a100:8,", `""`},
		{"n", ",a100:8", `""`},
		{"n", "a100:8,a800", `"a800"`},
		{"n", "a100:0", `"a100:0"`},
		{"n", "a100:-1", `"a100:-1"`},
		{"n", "a100:x", `"a100:x"`},
		{"n", "a100:1.5", `"a100:1.5"`},
		{"n", "a100:8:1", `"a100:8:1"`},
		{"n", ":8", `":8"`},
		{"n", "8:8", `"8:8"`},
		{"n", "a 100:8", `"a 100:8"`},
		{"n", "a100:65", `"a100:65"`},
		{"n", "a100:99999999999999999999", `"a100:99999999999999999999"`},
		{"n", "a100:32,a800:32,h100:1", `"h100:1"`},
		{"n", "a100:4,A100:4", `"A100:4"`},
	}
	for _, tt := range tests {
		t.Run(tt.node+"/"+tt.spec, func(t *testing.T) {
			got, err := ParseSimulated(tt.node, tt.spec)
			if err == nil {
				t.Fatalf("ParseSimulated = %v, want an error", got)
			}
			if !strings.Contains(err.Error(), tt.elem) {
				t.Errorf("error %q does not name the bad element %s", err, tt.elem)
			}
		})
	}
}
