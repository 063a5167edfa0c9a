package clienttest

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// authServer is the fake's AuthService: WhoAmI only.
type authServer struct {
	gpuqv1.UnimplementedAuthServiceServer
	s *Server
}

// WhoAmI answers Server.Identity, or Unimplemented when it is nil.
func (a authServer) WhoAmI(_ context.Context, req *gpuqv1.WhoAmIRequest) (*gpuqv1.WhoAmIResponse, error) {
	if err := a.s.begin("WhoAmI", req); err != nil {
		return nil, err
	}
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	if a.s.Identity == nil {
		return nil, status.Error(codes.Unimplemented, "no identity set")
	}
	return a.s.Identity, nil
}
