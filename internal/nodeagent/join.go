package nodeagent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gpuq/gpuq/internal/auth"
	"github.com/gpuq/gpuq/internal/client"
	"github.com/gpuq/gpuq/internal/job"
)

// The files a joined node keeps in its TLS directory.
const (
	nodeKeyFile   = "node.key"   // 0600
	nodeCertFile  = "node.crt"   // signed by gpuqd's CA
	nodeCAFile    = "ca.crt"     // gpuqd's CA
	nodeTokenFile = "node.token" // 0600; for the unix socket and insecure mode
)

func (c *Config) tlsDir() string {
	if c.TLSDir != "" {
		return c.TLSDir
	}
	return filepath.Join(c.StateDir, "tls")
}

// credentials returns how the node authenticates to gpuqd: with the
// certificate (over TLS) or node token (unix socket, insecure mode) it got
// when it joined; a node without them joins first with its join token.
func credentials(ctx context.Context, cfg Config, log *slog.Logger) (client.Security, error) {
	sec, err := loadCredentials(cfg)
	if err == nil {
		return sec, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return sec, err
	}
	join, err := joinToken(cfg)
	if err != nil {
		return sec, err
	}
	delay := time.Second
	for {
		err = joinCluster(ctx, cfg, join)
		if err == nil || !errors.Is(err, job.ErrUnavailable) {
			break
		}
		log.Warn("cannot reach gpuqd to join; retrying", "server", cfg.Server, "in", delay, "err", err)
		select {
		case <-ctx.Done():
			return sec, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
	if err != nil {
		return sec, fmt.Errorf("join the cluster: %w", err)
	}
	log.Info("joined the cluster: certificate and node token stored", "dir", cfg.tlsDir())
	return loadCredentials(cfg)
}

// joinToken reads the join token from the config or its file.
func joinToken(cfg Config) (auth.JoinToken, error) {
	text := cfg.JoinToken
	if cfg.JoinTokenFile != "" {
		b, err := os.ReadFile(cfg.JoinTokenFile)
		if err != nil {
			return auth.JoinToken{}, fmt.Errorf("join_token_file: %w", err)
		}
		text = string(b)
	}
	if strings.TrimSpace(text) == "" {
		return auth.JoinToken{}, fmt.Errorf("node %s has no credentials in %s and no join token: set join_token_file to the token `gpuqd init` printed", cfg.Name, cfg.tlsDir())
	}
	jt, err := auth.ParseJoinToken(text)
	if err != nil {
		return jt, fmt.Errorf("join_token: %w", err)
	}
	return jt, nil
}

// joinCluster presents the join token with a certificate request and
// stores what gpuqd hands back.
func joinCluster(ctx context.Context, cfg Config, join auth.JoinToken) error {
	cl, err := client.Dial(cfg.Server, client.Security{CAPin: join.CA, Insecure: cfg.InsecurePlaintext})
	if err != nil {
		return err
	}
	defer cl.Close()
	key, csr, err := auth.NewNodeKey(cfg.Name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := cl.JoinNode(ctx, cfg.Name, join.String(), csr)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(resp.CaCertificate)
	if err != nil {
		return fmt.Errorf("gpuqd's CA certificate: %w", err)
	}
	if join.CA != "" && !strings.EqualFold(auth.Fingerprint(ca), join.CA) {
		return fmt.Errorf("gpuqd answered with a CA whose fingerprint is not the join token's")
	}
	dir := cfg.tlsDir()
	// The state directory first, with the mode gpuq-node gives it (jobs
	// running as other users pass through it); only tls/ is private.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, step := range []func() error{
		func() error { return auth.WriteKey(filepath.Join(dir, nodeKeyFile), key) },
		func() error { return auth.WriteCert(filepath.Join(dir, nodeCAFile), resp.CaCertificate) },
		func() error { return auth.WriteSecret(filepath.Join(dir, nodeTokenFile), []byte(resp.NodeToken+"\n")) },
		// The certificate last: its presence says the join is complete.
		func() error { return auth.WriteCert(filepath.Join(dir, nodeCertFile), resp.Certificate) },
	} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// loadCredentials reads what joinCluster stored; os.ErrNotExist when the
// node has not joined (or joined under another name).
func loadCredentials(cfg Config) (client.Security, error) {
	dir := cfg.tlsDir()
	var sec client.Security
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, nodeCertFile), filepath.Join(dir, nodeKeyFile))
	if err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, nodeCertFile)); errors.Is(statErr, os.ErrNotExist) {
			return sec, statErr
		}
		return sec, fmt.Errorf("node certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return sec, fmt.Errorf("node certificate: %w", err)
	}
	if id, err := auth.IdentityFromCert(leaf); err != nil || id.Name != cfg.Name {
		return sec, fmt.Errorf("the certificate in %s is not node %s's: %w", dir, cfg.Name, os.ErrNotExist)
	}
	roots, err := auth.ReadCertPool(filepath.Join(dir, nodeCAFile))
	if err != nil {
		return sec, err
	}
	tok, err := os.ReadFile(filepath.Join(dir, nodeTokenFile))
	if err != nil {
		return sec, fmt.Errorf("node token: %w", err)
	}
	sec.Roots, sec.Insecure = roots, cfg.InsecurePlaintext
	if cfg.InsecurePlaintext || client.IsUnix(cfg.Server) {
		sec.Token = strings.TrimSpace(string(tok))
	} else {
		sec.Certificate = &pair
	}
	return sec, nil
}
