package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// Load reads, parses and validates the config file at path. Its errors name
// the path and wrap those of os.ReadFile and Parse.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("load config: %w", err) // *PathError names the path
	}
	c, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("load config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes one YAML document over Default, fills the keys that teams and
// pools leave out (or set to null) from DefaultTeam and DefaultPool, and
// validates the result. A key that Config does not know is an error naming
// its line, as are values of the wrong type; every such error is reported at
// once. An invalid config gives a *ValidationError. An empty document gives
// Default.
func Parse(data []byte) (Config, error) {
	var root, extra yaml.Node
	docs := yaml.NewDecoder(bytes.NewReader(data))
	err := docs.Decode(&root)
	if err == nil {
		if err = docs.Decode(&extra); err == nil {
			return Config{}, fmt.Errorf("yaml: line %d: a second document; a config is one document", extra.Line)
		}
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return Config{}, err
	}

	c := Default()
	if body := content(&root); body != nil && !isNull(body) {
		// Decode the text again rather than the node: only a Decoder
		// rejects unknown keys.
		strict := yaml.NewDecoder(bytes.NewReader(data))
		strict.KnownFields(true)
		if err = strict.Decode(&c); err != nil {
			return Config{}, err
		}
		fillItems(&c, body)
	}
	c.normalize()
	if err = c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Marshal writes c as YAML that Parse reads back to c: every key is written
// except those whose zero value is also their default. `gpuqd config print`
// prints it.
func Marshal(c Config) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("marshal config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("marshal config: %w", err)
	}
	return buf.Bytes(), nil
}

// fillItems gives every team and pool the default of each key its mapping
// in body (the document's top mapping) leaves out or sets to null.
func fillItems(c *Config, body *yaml.Node) {
	top := mapping(body)
	dt, dp := DefaultTeam(), DefaultPool()
	for i, item := range sequence(top["teams"]) {
		if i >= len(c.Teams) {
			break
		}
		t, keys := &c.Teams[i], mapping(item)
		hours := mapping(keys["working_hours"])
		if !set(hours, "start") {
			t.WorkingHours.Start = dt.WorkingHours.Start
		}
		if !set(hours, "end") {
			t.WorkingHours.End = dt.WorkingHours.End
		}
		if !set(keys, "working_days") {
			t.WorkingDays = dt.WorkingDays
		}
		if !set(keys, "shares") {
			t.Shares = dt.Shares
		}
	}
	for i, item := range sequence(top["pools"]) {
		if i >= len(c.Pools) {
			break
		}
		p, keys := &c.Pools[i], mapping(item)
		if !set(keys, "gpus_per_node") {
			p.GPUsPerNode = dp.GPUsPerNode
		}
		if !set(keys, "billing_weight") {
			p.BillingWeight = dp.BillingWeight
		}
	}
}

// normalize makes empty lists nil, so that a config and its Marshal output
// parse to equal values.
func (c *Config) normalize() {
	nilIfEmpty(&c.Teams)
	nilIfEmpty(&c.Pools)
	for i := range c.Teams {
		t := &c.Teams[i]
		nilIfEmpty(&t.WorkingDays)
		nilIfEmpty(&t.Holidays)
		nilIfEmpty(&t.Users)
	}
}

func nilIfEmpty[S ~[]E, E any](s *S) {
	if len(*s) == 0 {
		*s = nil
	}
}

// content returns the node a document holds, following an alias.
func content(n *yaml.Node) *yaml.Node {
	if n.Kind == 0 { // no document
		return nil
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		n = n.Content[0]
	}
	return deref(n)
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// set reports whether keys has key with a value other than null.
func set(keys map[string]*yaml.Node, key string) bool {
	v, ok := keys[key]
	return ok && !isNull(v)
}

// mapping returns the keys of a mapping node and their values, with merge
// keys (<<) resolved as the decoder resolves them: keys written out win over
// merged ones, and earlier merged mappings over later ones. It returns nil for anything but a mapping.
func mapping(n *yaml.Node) map[string]*yaml.Node {
	return mappingDepth(n, 0)
}

func mappingDepth(n *yaml.Node, depth int) map[string]*yaml.Node {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode || depth > 100 {
		return nil
	}
	out := make(map[string]*yaml.Node)
	var merged []map[string]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k == nil || k.Kind != yaml.ScalarNode {
			continue
		}
		if k.Value == "<<" && (k.Tag == "" || k.Tag == "!" || k.ShortTag() == "!!merge") {
			// As in the decoder, only the last merge key counts.
			merged = merged[:0]
			if v != nil && v.Kind == yaml.SequenceNode {
				for _, m := range v.Content {
					merged = append(merged, mappingDepth(m, depth+1))
				}
			} else {
				merged = append(merged, mappingDepth(v, depth+1))
			}
			continue
		}
		out[k.Value] = v
	}
	for _, m := range merged {
		for k, v := range m {
			if _, ok := out[k]; !ok {
				out[k] = v
			}
		}
	}
	return out
}

// sequence returns the items of a sequence node, or nil.
func sequence(n *yaml.Node) []*yaml.Node {
	n = deref(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}
