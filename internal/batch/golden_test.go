package batch

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the scripts")

// goldenEnviron and goldenNow stand for the submitter's environment and clock.
var goldenEnviron = []string{"HOME=/home/ada", "PATH=/usr/local/bin:/usr/bin:/bin", "USER=ada", "WANDB_MODE=online"}

func goldenNow() time.Time { return time.Date(2026, 3, 10, 9, 30, 0, 0, time.FixedZone("CET", 3600)) }

// goldenResult is what a script submits as: the spec without the script,
// the warnings, or the error.
type goldenResult struct {
	Warnings []string        `json:"warnings,omitempty"`
	Spec     json.RawMessage `json:"spec,omitempty"`
	Error    string          `json:"error,omitempty"`
}

// submit runs a script through the package as the command line would.
func submit(script []byte) (goldenResult, error) {
	var r goldenResult
	ds, ws, err := ParseDirectives(script)
	if err != nil {
		r.Error = err.Error()
		return r, nil
	}
	var o Options
	more, err := o.ApplyDirectives(ds)
	if err != nil {
		r.Error = err.Error()
		return r, nil
	}
	for _, w := range append(ws, more...) {
		r.Warnings = append(r.Warnings, w.String())
	}
	spec, err := o.Spec(script, goldenNow(), goldenEnviron)
	if err != nil {
		r.Error = err.Error()
		return r, nil
	}
	spec.Script = nil
	r.Spec, err = protojson.Marshal(spec)
	return r, err
}

func TestGolden(t *testing.T) {
	scripts, err := filepath.Glob(filepath.Join("testdata", "scripts", "*.sh"))
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, path := range scripts {
		name := strings.TrimSuffix(filepath.Base(path), ".sh")
		t.Run(name, func(t *testing.T) {
			script, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			r, err := submit(script)
			if err != nil {
				t.Fatal(err)
			}
			// protojson varies its spacing on purpose; MarshalIndent settles it.
			got, err := json.MarshalIndent(r, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(want, got) {
				t.Errorf("%s differs (-want +got):\n%s", golden, cmp.Diff(string(want), string(got)))
			}
		})
	}
}
