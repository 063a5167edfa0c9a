package server_test

import (
	"os"
	"time"

	"google.golang.org/grpc"

	"github.com/gpuq/gpuq/internal/auth"
	"github.com/gpuq/gpuq/internal/server"
)

// localOperator returns the server options of a gpuqd whose callers on the
// unix socket are known by their uid: the test itself, running as the
// server's own uid, is an operator.
func localOperator() []grpc.ServerOption {
	g := &server.Guard{Directory: &auth.Directory{SelfUID: uint32(os.Geteuid())}, Now: time.Now}
	return []grpc.ServerOption{
		grpc.Creds(auth.ServerCredentials(nil)),
		grpc.ChainUnaryInterceptor(server.UnaryErrors(nil), g.Unary()),
		grpc.ChainStreamInterceptor(server.StreamErrors(nil), g.Stream()),
	}
}
