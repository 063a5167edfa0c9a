package server_test

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/gpuq/gpuq/internal/server"
	_ "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Every RPC of every gpuq.v1 service has an access rule: a method without
// one is refused at run time, so a new RPC must be given one here first.
func TestEveryMethodHasAnAccessRule(t *testing.T) {
	n := 0
	protoregistry.GlobalFiles.RangeFilesByPackage("gpuq.v1", func(f protoreflect.FileDescriptor) bool {
		for i := range f.Services().Len() {
			sd := f.Services().Get(i)
			for j := range sd.Methods().Len() {
				name := "/" + string(sd.FullName()) + "/" + string(sd.Methods().Get(j).Name())
				n++
				if server.Methods[name] == server.AccessDenied {
					t.Errorf("%s has no entry in server.Methods", name)
				}
			}
		}
		return true
	})
	if n < 20 {
		t.Errorf("found only %d methods; is the registry empty?", n)
	}
}
