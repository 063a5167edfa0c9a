package gpu

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"

	"github.com/gpuq/gpuq/internal/ident"
)

// TypeMap names NVML models with the GPU types of the config. Its entries,
// from the node config, map a part of a model name to a type ("A10G": "a10");
// they are matched case-insensitively as substrings and come before the
// default rules. When several entries match, the longest wins.
//
// The default rules match a whole token of the model name, its parts between
// spaces, dashes and other punctuation: "NVIDIA A100-SXM4-40GB" has the tokens
// NVIDIA, A100, SXM4 and 40GB, and so is an "a100" but not an "a10". They are
//
//	A100 -> a100   A800 -> a800   A10 -> a10
//	H100 -> h100   H200 -> h200   H800 -> h800
//	L40S -> l40s
//
// A nil TypeMap has only the default rules.
type TypeMap map[string]string

// defaultTypes are the default rules: a token of a model name and its type.
var defaultTypes = map[string]string{
	"A100": "a100",
	"A800": "a800",
	"A10":  "a10",
	"H100": "h100",
	"H200": "h200",
	"H800": "h800",
	"L40S": "l40s",
}

// UnknownModelError is a GPU model that neither the TypeMap's entries nor its
// default rules name.
type UnknownModelError struct {
	Model string
}

func (e *UnknownModelError) Error() string {
	key, typ := example(e.Model)
	return fmt.Sprintf("unknown GPU model %q: map it to a GPU type of the config with an entry in the node config's GPU type map, from a part of the model name to the type (for example %q: %q)",
		e.Model, key, typ)
}

// example suggests an entry for model: its first token with both letters and
// digits, which usually names the chip ("B200"), mapped to that in lower case.
func example(model string) (key, typ string) {
	for _, tok := range tokens(model) {
		if strings.ContainsFunc(tok, unicode.IsDigit) && strings.ContainsFunc(tok, unicode.IsLetter) {
			if t := strings.ToLower(tok); ident.GPUType(t) {
				return tok, t
			}
		}
	}
	return model, "TYPE"
}

// Validate reports every bad entry: an empty model part, or a type the config
// would not accept.
func (m TypeMap) Validate() error {
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(m)) {
		switch v := m[k]; {
		case strings.TrimSpace(k) == "":
			errs = append(errs, fmt.Errorf("%q: empty model name part", k))
		case !ident.GPUType(v):
			errs = append(errs, fmt.Errorf("%q: invalid GPU type %q (want a lowercase identifier such as a100: a-z, 0-9, '-' and '_', starting with a letter, up to 32)", k, v))
		}
	}
	return errors.Join(errs...)
}

// Type returns the GPU type of an NVML model name, or an *UnknownModelError.
// It does not validate m: see Validate.
func (m TypeMap) Type(model string) (string, error) {
	upper := strings.ToUpper(model)
	best, bestLen, typ := "", 0, "" // the longest matching entry
	for _, k := range slices.Sorted(maps.Keys(m)) {
		part := strings.ToUpper(strings.TrimSpace(k))
		if part == "" || !strings.Contains(upper, part) {
			continue
		}
		switch {
		case len(part) > bestLen:
			best, bestLen, typ = k, len(part), m[k]
		case len(part) == bestLen && m[k] != typ:
			return "", fmt.Errorf("GPU model %q: entries %q (%s) and %q (%s) of the GPU type map match it equally: make one longer", model, best, typ, k, m[k])
		}
	}
	if typ != "" {
		return typ, nil
	}
	for _, tok := range tokens(upper) {
		if t, ok := defaultTypes[tok]; ok {
			if typ != "" && t != typ {
				return "", fmt.Errorf("GPU model %q matches both %s and %s: name its type with an entry in the node config's GPU type map", model, typ, t)
			}
			typ = t
		}
	}
	if typ == "" {
		return "", &UnknownModelError{Model: model}
	}
	return typ, nil
}

// tokens splits a model name at everything but letters and digits.
func tokens(model string) []string {
	return strings.FieldsFunc(model, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}
