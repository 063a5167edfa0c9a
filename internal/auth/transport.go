package auth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"syscall"

	"google.golang.org/grpc/credentials"
)

// PeerCred is the AuthInfo of a connection on the unix socket: the
// kernel's word for the uid, gid and pid of the process at the other end.
type PeerCred struct {
	credentials.CommonAuthInfo
	UID, GID uint32
	PID      int32
}

// AuthType implements credentials.AuthInfo.
func (PeerCred) AuthType() string { return "peercred" }

// Plaintext is the AuthInfo of an unencrypted TCP connection, which only
// the insecure loopback mode accepts.
type Plaintext struct{ credentials.CommonAuthInfo }

// AuthType implements credentials.AuthInfo.
func (Plaintext) AuthType() string { return "plaintext" }

// ServerCredentials serves TLS on TCP connections (plaintext when tlsConfig
// is nil: the insecure mode) and reads peer credentials on unix ones, so one
// gRPC server serves both listeners.
func ServerCredentials(tlsConfig *tls.Config) credentials.TransportCredentials {
	s := &serverCreds{}
	if tlsConfig != nil {
		s.tls = credentials.NewTLS(tlsConfig)
	}
	return s
}

type serverCreds struct {
	tls credentials.TransportCredentials
}

func (s *serverCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if uc, ok := conn.(*net.UnixConn); ok {
		pc, err := peerCred(uc)
		if err != nil {
			return nil, nil, fmt.Errorf("peer credentials: %w", err)
		}
		return conn, pc, nil
	}
	if s.tls == nil {
		return conn, Plaintext{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}, nil
	}
	return s.tls.ServerHandshake(conn)
}

func (s *serverCreds) ClientHandshake(context.Context, string, net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("auth: server credentials used by a client")
}

func (s *serverCreds) Info() credentials.ProtocolInfo {
	if s.tls != nil {
		return s.tls.Info()
	}
	return credentials.ProtocolInfo{SecurityProtocol: "insecure"}
}

func (s *serverCreds) Clone() credentials.TransportCredentials {
	c := &serverCreds{}
	if s.tls != nil {
		c.tls = s.tls.Clone()
	}
	return c
}

func (s *serverCreds) OverrideServerName(string) error { return nil }

func peerCred(c *net.UnixConn) (PeerCred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return PeerCred{}, err
	}
	var uc *syscall.Ucred
	var sockErr error
	if err := raw.Control(func(fd uintptr) {
		uc, sockErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return PeerCred{}, err
	}
	if sockErr != nil {
		return PeerCred{}, sockErr
	}
	return PeerCred{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity},
		UID: uc.Uid, GID: uc.Gid, PID: uc.Pid}, nil
}
