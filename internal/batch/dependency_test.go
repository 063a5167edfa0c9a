package batch

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

func dep(typ gpuqv1.DependencyType, id uint64) *gpuqv1.Dependency {
	return &gpuqv1.Dependency{Type: typ, JobId: id}
}

func taskDep(typ gpuqv1.DependencyType, id uint64, task uint32) *gpuqv1.Dependency {
	return &gpuqv1.Dependency{Type: typ, JobId: id, ArrayTaskId: proto.Uint32(task)}
}

const (
	after      = gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER
	afterAny   = gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_ANY
	afterOK    = gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_OK
	afterNotOK = gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_NOT_OK
)

func TestParseDependency(t *testing.T) {
	type result struct {
		Deps      []*gpuqv1.Dependency
		Singleton bool
	}
	tests := []struct {
		in      string
		want    result
		wantErr bool
	}{
		{in: "afterok:12:13,afterany:14", want: result{Deps: []*gpuqv1.Dependency{dep(afterOK, 12), dep(afterOK, 13), dep(afterAny, 14)}}},
		{in: "afterok:12_3", want: result{Deps: []*gpuqv1.Dependency{taskDep(afterOK, 12, 3)}}},
		{in: "afterok:12_0", want: result{Deps: []*gpuqv1.Dependency{taskDep(afterOK, 12, 0)}}},
		{in: "after:5", want: result{Deps: []*gpuqv1.Dependency{dep(after, 5)}}},
		{in: "afternotok:9", want: result{Deps: []*gpuqv1.Dependency{dep(afterNotOK, 9)}}},
		{in: "singleton", want: result{Singleton: true}},
		{in: "afterok:1,singleton", want: result{Deps: []*gpuqv1.Dependency{dep(afterOK, 1)}, Singleton: true}},
		{in: "", wantErr: true},
		{in: "afterok:1?afterany:2", wantErr: true},
		{in: "aftercorr:5", wantErr: true},
		{in: "expand:5", wantErr: true},
		{in: "afterok", wantErr: true},
		{in: "afterok:", wantErr: true},
		{in: "afterok:0", wantErr: true},
		{in: "afterok:x", wantErr: true},
		{in: "afterok:-1", wantErr: true},
		{in: "after:5+10", wantErr: true},
		{in: "afterok:12_x", wantErr: true},
		{in: "afterok:12_", wantErr: true},
		{in: "afterok:12_[1-3]", wantErr: true},
		{in: "afterok:1,,afterok:2", wantErr: true},
		{in: "afterok:1:", wantErr: true},
		{in: "AFTEROK:1", wantErr: true},
		{in: "singleton:1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			deps, singleton, err := ParseDependency(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseDependency(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, result{deps, singleton}, protocmp.Transform()); diff != "" {
				t.Errorf("ParseDependency(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// The brief's messages for the two errors users meet most.
func TestParseDependencyMessages(t *testing.T) {
	tests := []struct{ in, want string }{
		{"afterok:1?afterany:2", `dependency "afterok:1?afterany:2": gpuq supports only ','-separated all-of lists, not '?' any-of lists`},
		{"aftercorr:5", `dependency "aftercorr:5": unknown dependency type "aftercorr" (want after, afterany, afterok, afternotok or singleton)`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, _, err := ParseDependency(tt.in)
			if err == nil {
				t.Fatalf("ParseDependency(%q) succeeded", tt.in)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}

// formatDependency writes deps back in sbatch's syntax.
func formatDependency(deps []*gpuqv1.Dependency, singleton bool) string {
	names := map[gpuqv1.DependencyType]string{after: "after", afterAny: "afterany", afterOK: "afterok", afterNotOK: "afternotok"}
	var parts []string
	for _, d := range deps {
		p := fmt.Sprintf("%s:%d", names[d.GetType()], d.GetJobId())
		if d.ArrayTaskId != nil {
			p += fmt.Sprintf("_%d", d.GetArrayTaskId())
		}
		parts = append(parts, p)
	}
	if singleton {
		parts = append(parts, "singleton")
	}
	return strings.Join(parts, ",")
}

func FuzzParseDependency(f *testing.F) {
	for _, s := range []string{"afterok:12:13,afterany:14", "afterok:12_3", "after:5", "afternotok:9", "singleton",
		"afterok:1?afterany:2", "after:5+10", "aftercorr:5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		deps, singleton, err := ParseDependency(s)
		if err != nil {
			return
		}
		for _, d := range deps {
			if d.GetJobId() == 0 || d.GetType() == gpuqv1.DependencyType_DEPENDENCY_TYPE_UNSPECIFIED {
				t.Fatalf("ParseDependency(%q) gave %v", s, d)
			}
		}
		form := formatDependency(deps, singleton)
		deps2, singleton2, err := ParseDependency(form)
		if err != nil || singleton2 != singleton {
			t.Fatalf("ParseDependency(%q): reparsing %q gave singleton %v, %v", s, form, singleton2, err)
		}
		if diff := cmp.Diff(deps, deps2, protocmp.Transform()); diff != "" {
			t.Fatalf("ParseDependency(%q): reparsing %q (-first +second):\n%s", s, form, diff)
		}
	})
}
