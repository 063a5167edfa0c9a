package money

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Amount
	}{
		{"0", 0},
		{"-0", 0},
		{"-0.00", 0},
		{"3.5", 3_500_000},
		{"3.50", 3_500_000},
		{"20000", 20_000 * Unit},
		{"0.000001", 1},
		{"-0.000001", -1},
		{"-1.25", -1_250_000},
		{"007.10", 7_100_000},
		{"9223372036854.775807", math.MaxInt64},
		{"-9223372036854.775808", math.MinInt64},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"", ErrSyntax},
		{"-", ErrSyntax},
		{"+1", ErrSyntax},
		{"--1", ErrSyntax},
		{"1-", ErrSyntax},
		{".5", ErrSyntax},
		{"1.", ErrSyntax},
		{"-.5", ErrSyntax},
		{"1.2.3", ErrSyntax},
		{"1e3", ErrSyntax},
		{"1,000", ErrSyntax},
		{"1_000", ErrSyntax},
		{" 1", ErrSyntax},
		{"1 ", ErrSyntax},
		{"0x10", ErrSyntax},
		{"NaN", ErrSyntax},
		{"١", ErrSyntax}, // an Arabic-Indic digit is not an ASCII digit
		{"0.0000001", ErrPrecision},
		{"1.0000000", ErrPrecision},
		{"9223372036854.775808", ErrRange},
		{"-9223372036854.775809", ErrRange},
		{"99999999999999999999999", ErrRange},
		{"184467440737095516160", ErrRange}, // wraps uint64 to a small number if unchecked
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse(%q) = %v, %v; want error %v", tt.in, got, err, tt.want)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Input != tt.in {
				t.Errorf("Parse(%q) error %#v is not a *ParseError naming the input", tt.in, err)
			}
		})
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		in   Amount
		want string
	}{
		{0, "0.00"},
		{1, "0.000001"},
		{-1, "-0.000001"},
		{3_500_000, "3.50"},
		{1_200_000, "1.20"},
		{1_230_000, "1.23"},
		{1_234_000, "1.234"},
		{1_234_567, "1.234567"},
		{20_000 * Unit, "20000.00"},
		{-3_500_000, "-3.50"},
		{math.MaxInt64, "9223372036854.775807"},
		{math.MinInt64, "-9223372036854.775808"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.in.String()); diff != "" {
				t.Errorf("Amount(%d).String() (-want +got):\n%s", int64(tt.in), diff)
			}
		})
	}
}

func TestCents(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"3.50", 350},
		{"0.004999", 0},
		{"0.005", 0}, // half to even: 0
		{"0.005001", 1},
		{"0.015", 2}, // half to even: 2
		{"0.025", 2},
		{"0.035", 4},
		{"1.234567", 123},
		{"-0.005", 0},
		{"-0.015", -2},
		{"-0.025", -2},
		{"-0.025001", -3},
		{"-1.234567", -123},
		{"9223372036854.775807", 922337203685478},
		{"-9223372036854.775808", -922337203685478},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			a, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, a.Cents()); diff != "" {
				t.Errorf("Parse(%q).Cents() (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

type priced struct {
	Price  Amount `yaml:"price"`
	Budget Amount `yaml:"budget"`
}

func TestYAML(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want priced
	}{
		{"numbers", "price: 3.5\nbudget: 20000\n", priced{3_500_000, 20_000 * Unit}},
		{"strings", "price: \"3.50\"\nbudget: '0.000001'\n", priced{3_500_000, 1}},
		{"negative", "price: -1.25\n", priced{Price: -1_250_000}},
		{"null keeps zero", "price: ~\n", priced{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got priced
			if err := yaml.Unmarshal([]byte(tt.in), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestYAMLErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // a substring of the error
	}{
		{"too precise", "price: 0.0000001\n", "line 1: parse amount \"0.0000001\": more than 6 decimal places"},
		{"exponent", "price: 1e3\n", "line 1: parse amount \"1e3\""},
		{"bool", "price: true\n", "line 1: cannot unmarshal !!bool \"true\""},
		{"sequence", "budget:\n  - 1\n", "line 2: cannot unmarshal a sequence"},
		{"both reported", "price: x\nbudget: y\n", "line 2: parse amount \"y\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got priced
			err := yaml.Unmarshal([]byte(tt.in), &got)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Unmarshal(%q) error = %v; want one containing %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	in := priced{Price: 3_500_000, Budget: 1}
	out, err := yaml.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("price: 3.50\nbudget: 0.000001\n", string(out)); diff != "" {
		t.Errorf("Marshal (-want +got):\n%s", diff)
	}
	var back priced
	if err := yaml.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"0", "3.5", "-1.25", "0.000001", "20000", "9223372036854.775807", "-9223372036854.775808", ".5", "1.", "+1", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			return
		}
		back, err := Parse(a.String())
		if err != nil {
			t.Fatalf("Parse(%q) = %d, but Parse(%q): %v", s, a, a.String(), err)
		}
		if back != a {
			t.Fatalf("Parse(%q) = %d; Parse(String()) = %d", s, a, back)
		}
	})
}

func FuzzString(f *testing.F) {
	for _, n := range []int64{0, 1, -1, 3_500_000, math.MaxInt64, math.MinInt64} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, n int64) {
		a := Amount(n)
		back, err := Parse(a.String())
		if err != nil {
			t.Fatalf("Parse(%q): %v", a.String(), err)
		}
		if back != a {
			t.Fatalf("Parse(Amount(%d).String()) = %d", n, back)
		}
		var y priced
		out, err := yaml.Marshal(priced{Price: a})
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(out, &y); err != nil || y.Price != a {
			t.Fatalf("YAML round trip of %d via %q = %d, %v", n, out, y.Price, err)
		}
	})
}
