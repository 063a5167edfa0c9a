package gpu

import (
	"errors"
	"testing"
)

func TestTypeMapType(t *testing.T) {
	tests := []struct {
		model string
		types TypeMap
		want  string // "" wants an error
		// unknown wants the error to be an *UnknownModelError.
		unknown bool
	}{
		// The default rules, on names NVML reports.
		{model: "NVIDIA A100-SXM4-40GB", want: "a100"},
		{model: "NVIDIA A100-SXM4-80GB", want: "a100"},
		{model: "NVIDIA A100 80GB PCIe", want: "a100"},
		{model: "NVIDIA A100-PCIE-40GB", want: "a100"},
		{model: "Mock NVIDIA A100-SXM4-40GB", want: "a100"},
		{model: "NVIDIA A800-SXM4-80GB", want: "a800"},
		{model: "NVIDIA A800 80GB PCIe", want: "a800"},
		{model: "NVIDIA A10", want: "a10"},
		{model: "NVIDIA H100 80GB HBM3", want: "h100"},
		{model: "NVIDIA H100 PCIe", want: "h100"},
		{model: "NVIDIA H100 NVL", want: "h100"},
		{model: "NVIDIA H200 141GB HBM3e", want: "h200"},
		{model: "NVIDIA H200 NVL", want: "h200"},
		{model: "NVIDIA H800", want: "h800"},
		{model: "NVIDIA H800 PCIe", want: "h800"},
		{model: "NVIDIA L40S", want: "l40s"},
		{model: "nvidia a100-sxm4-40gb", want: "a100"},
		// Whole tokens only: none of these is a default type.
		{model: "NVIDIA A10G", unknown: true},
		{model: "NVIDIA A100X", unknown: true},
		{model: "NVIDIA L40", unknown: true},
		{model: "NVIDIA L4", unknown: true},
		{model: "NVIDIA GH200 480GB", unknown: true},
		{model: "NVIDIA B200 180GB HBM3e", unknown: true},
		{model: "NVIDIA A30", unknown: true},
		{model: "Tesla V100-SXM2-32GB", unknown: true},
		{model: "", unknown: true},
		// Entries come first, case-insensitively, the longest winning.
		{model: "NVIDIA A10G", types: TypeMap{"A10G": "a10"}, want: "a10"},
		{model: "NVIDIA A100-SXM4-80GB", types: TypeMap{"a100-sxm4-80gb": "a100-80gb"}, want: "a100-80gb"},
		{model: "NVIDIA A100-SXM4-40GB", types: TypeMap{"A100-SXM4-80GB": "a100-80gb"}, want: "a100"},
		{model: "NVIDIA A100-SXM4-80GB", types: TypeMap{"A100": "ampere", "A100-SXM4-80GB": "a100-80gb"}, want: "a100-80gb"},
		{model: "NVIDIA A100-SXM4-40GB", types: TypeMap{"A100": "ampere", "A100-SXM4-80GB": "a100-80gb"}, want: "ampere"},
		{model: "NVIDIA H100 NVL", types: TypeMap{" NVL ": "h100-nvl"}, want: "h100-nvl"},
		// Entries of the same length that disagree are ambiguous; that agree are not.
		{model: "NVIDIA H100 80GB HBM3", types: TypeMap{"H100": "h100", "HBM3": "hbm"}},
		{model: "NVIDIA H100 80GB HBM3", types: TypeMap{"H100": "h100", "80GB": "h100"}, want: "h100"},
		// Two default tokens of different types are ambiguous.
		{model: "NVIDIA A100 H100", unknown: false},
		{model: "NVIDIA A100 A100", want: "a100"},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			got, err := tt.types.Type(tt.model)
			switch {
			case tt.want != "":
				if err != nil || got != tt.want {
					t.Errorf("Type(%q) = %q, %v; want %q", tt.model, got, err, tt.want)
				}
			case err == nil:
				t.Errorf("Type(%q) = %q, want an error", tt.model, got)
			default:
				var u *UnknownModelError
				if errors.As(err, &u) != tt.unknown {
					t.Errorf("Type(%q) error %v: *UnknownModelError %v, want %v", tt.model, err, !tt.unknown, tt.unknown)
				}
				if tt.unknown && u.Model != tt.model {
					t.Errorf("UnknownModelError.Model = %q, want %q", u.Model, tt.model)
				}
			}
		})
	}
}

func TestTypeMapValidate(t *testing.T) {
	tests := []struct {
		name  string
		types TypeMap
		bad   int // how many problems
	}{
		{"nil", nil, 0},
		{"good", TypeMap{"A10G": "a10", "RTX 6000": "rtx6000", "A100-SXM4-80GB": "a100_80gb"}, 0},
		{"empty key", TypeMap{"": "a10"}, 1},
		{"blank key", TypeMap{"  ": "a10"}, 1},
		{"empty type", TypeMap{"A10G": ""}, 1},
		{"upper-case type", TypeMap{"A10G": "A10"}, 1},
		{"type with space", TypeMap{"A10G": "a 10"}, 1},
		{"type starting with a digit", TypeMap{"A10G": "10"}, 1},
		{"type too long", TypeMap{"A10G": "a123456789012345678901234567890123"}, 1},
		{"all reported", TypeMap{"": "a10", "A10G": "A10", "L4": "l4"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.types.Validate()
			got := 0
			if err != nil {
				got = 1
				if j, ok := err.(interface{ Unwrap() []error }); ok {
					got = len(j.Unwrap())
				}
			}
			if got != tt.bad {
				t.Errorf("Validate() = %v: %d problems, want %d", err, got, tt.bad)
			}
		})
	}
}
