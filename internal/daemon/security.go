package daemon

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/gpuq/gpuq/internal/auth"
	"github.com/gpuq/gpuq/internal/config"
	"github.com/gpuq/gpuq/internal/server"
	"github.com/gpuq/gpuq/internal/store"
)

// security is gpuqd's authentication state.
type security struct {
	tls    *tls.Config // nil: plaintext TCP (insecure mode) or no TCP
	ca     *auth.CA
	join   auth.JoinToken
	tokens *auth.Registry
	guard  *server.Guard
	audit  *auth.Audit
}

// openSecurity loads (creating on first start, like `gpuqd init`) the CA,
// the server certificate, the token key and the join token, the issued
// tokens, and the audit log.
func openSecurity(cfg *config.Config, st *store.Store, log *slog.Logger) (*security, error) {
	dir := cfg.TLSDirPath()
	res, err := auth.Init(dir, append(cfg.Security.Hosts, listenHost(cfg.Listen.TCP)), time.Now())
	if err != nil {
		return nil, fmt.Errorf("security: %w", err)
	}
	if res.Created {
		log.Info("created the CA, server certificate, token key and node join token", "dir", dir,
			"join_token_file", dir+"/"+auth.JoinTokenFile)
	}
	s := &security{join: res.Join}
	var serverTLS *tls.Config
	serverTLS, s.ca, err = auth.ServerTLS(dir)
	if err != nil {
		return nil, fmt.Errorf("security: %w", err)
	}
	if cfg.Listen.TCP != "" {
		if cfg.Security.InsecurePlaintext {
			log.Warn("INSECURE: serving plaintext TCP without TLS (security.insecure_plaintext); loopback only", "addr", cfg.Listen.TCP)
		} else {
			s.tls = serverTLS
		}
	}
	key, err := auth.ReadTokenKey(dir)
	if err != nil {
		return nil, fmt.Errorf("security: %w", err)
	}
	signer, err := auth.NewSigner(key)
	if err != nil {
		return nil, fmt.Errorf("security: %w", err)
	}
	s.tokens, err = auth.NewRegistry(signer, st, auth.Fingerprint(s.ca.Cert), time.Duration(cfg.Security.MaxTokenTTL))
	if err != nil {
		return nil, err
	}
	s.audit, err = auth.OpenAudit(cfg.AuditLogPath())
	if err != nil {
		return nil, err
	}
	s.guard = &server.Guard{Tokens: s.tokens, Directory: directory(cfg), Audit: s.audit, Now: time.Now, Log: log}
	return s, nil
}

// directory is who the config says local users are.
func directory(cfg *config.Config) *auth.Directory {
	d := &auth.Directory{SelfUID: uint32(os.Geteuid()), Operators: cfg.Security.Operators}
	for _, t := range cfg.Teams {
		d.Teams = append(d.Teams, auth.TeamMembers{Team: t.Name, Users: t.Users, Admins: t.Admins})
	}
	return d
}

// listenHost is the host part of a TCP listen address, for the server
// certificate; "" for none or a wildcard.
func listenHost(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil || h == "0.0.0.0" || h == "::" {
		return ""
	}
	return h
}

// initSecurity is `gpuqd init`: it creates what openSecurity needs and
// prints the join token nodes present, once, to join.
func initSecurity(w io.Writer, cfg *config.Config, hosts []string) error {
	dir := cfg.TLSDirPath()
	res, err := auth.Init(dir, append(append(cfg.Security.Hosts, hosts...), listenHost(cfg.Listen.TCP)), time.Now())
	if err != nil {
		return err
	}
	ca, err := auth.LoadCA(dir)
	if err != nil {
		return err
	}
	if res.Created {
		fmt.Fprintf(w, "Created the CA, the server certificate, the token key and the node join token in %s.\n", dir)
	} else {
		fmt.Fprintf(w, "Everything was there already in %s; nothing changed.\n", dir)
	}
	fmt.Fprintf(w, "CA fingerprint (SHA-256): %s\n", auth.Fingerprint(ca.Cert))
	fmt.Fprintf(w, "Node join token (keep it secret; also in %s):\n  %s\n", dir+"/"+auth.JoinTokenFile, res.Join)
	fmt.Fprintf(w, "Next: start gpuqd; give nodes the join token (join_token_file in their config);\n"+
		"issue user tokens as an operator with `gpuqctl token create --user NAME --team TEAM`.\n")
	return nil
}
