package gpu

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/gpuq/gpuq/internal/ident"
)

// MaxSimulated is the most GPUs --simulate-gpus makes up for one node.
const MaxSimulated = 64

// simulatedMemory is the memory of a simulated GPU of a known type: that of
// the type's largest common model. Other types get 0, meaning unknown.
var simulatedMemory = map[string]uint64{
	"a100": 80 << 30,
	"a800": 80 << 30,
	"h100": 80 << 30,
	"h800": 80 << 30,
	"h200": 141 << 30,
	"l40s": 48 << 30,
	"a10":  24 << 30,
}

// simulatedNamespace is the UUIDv5 namespace of simulated GPUs' UUIDs.
var simulatedNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/gpuq/gpuq/simulated-gpu"))

// ParseSimulated makes up the GPUs of node from a --simulate-gpus spec: a
// comma-separated list of TYPE:COUNT, such as "a100:8" or "a100:4,a800:4".
// TYPE is a GPU type of the config (taken in lower case), COUNT at least 1,
// and each type may appear once; MaxSimulated GPUs in all at most.
//
// The devices are numbered from 0 in the order of the spec, have model
// "Simulated A100", the memory of their type (0 where gpuq does not know it),
// Minor -1 (no device file), Simulated set, and a UUID in NVML's form
// ("GPU-" and a UUID) that is a UUIDv5 of node, index and type: the same for
// the same node and spec, and different on two nodes.
func ParseSimulated(node, spec string) ([]Device, error) {
	if node == "" {
		return nil, fmt.Errorf("simulated GPUs %q: no node name to derive their UUIDs from", spec)
	}
	if strings.TrimSpace(spec) == "" {
		return nil, errors.New("simulated GPUs: empty spec (want TYPE:COUNT[,TYPE:COUNT...], for example a100:8)")
	}
	var devs []Device
	seen := make(map[string]bool)
	for elem := range strings.SplitSeq(spec, ",") {
		typ, count, err := parseSimulatedElem(elem)
		if err != nil {
			return nil, fmt.Errorf("simulated GPUs %q: %q: %w", spec, elem, err)
		}
		if seen[typ] {
			return nil, fmt.Errorf("simulated GPUs %q: %q: type %s given twice", spec, elem, typ)
		}
		seen[typ] = true
		if count > MaxSimulated-len(devs) {
			return nil, fmt.Errorf("simulated GPUs %q: %q: more than %d GPUs in all", spec, elem, MaxSimulated)
		}
		for range count {
			i := len(devs)
			id := uuid.NewSHA1(simulatedNamespace, fmt.Appendf(nil, "%s\x00%d\x00%s", node, i, typ))
			devs = append(devs, Device{
				Index:       i,
				UUID:        "GPU-" + id.String(),
				Model:       "Simulated " + strings.ToUpper(typ),
				Type:        typ,
				MemoryBytes: simulatedMemory[typ],
				Minor:       -1,
				Simulated:   true,
			})
		}
	}
	return devs, nil
}

// parseSimulatedElem parses one TYPE:COUNT of a --simulate-gpus spec.
func parseSimulatedElem(elem string) (typ string, count int, err error) {
	t, c, ok := strings.Cut(elem, ":")
	if !ok {
		return "", 0, errors.New("want TYPE:COUNT, for example a100:8")
	}
	typ = strings.ToLower(strings.TrimSpace(t))
	if !ident.GPUType(typ) {
		return "", 0, fmt.Errorf("invalid GPU type %q (want a type of the config such as a100: a-z, 0-9, '-' and '_', starting with a letter, up to 32)", strings.TrimSpace(t))
	}
	c = strings.TrimSpace(c)
	count, err = strconv.Atoi(c)
	if err != nil || count < 1 {
		return "", 0, fmt.Errorf("invalid count %q (want a whole number from 1 to %d)", c, MaxSimulated)
	}
	return typ, count, nil
}
