package config

import (
	"fmt"
	"net"
	"path/filepath"
	"time"
)

// Security is how gpuqd authenticates its callers (issue #6).
type Security struct {
	// TLSDir holds what `gpuqd init` creates: the CA, the server's
	// certificate, the token-signing key and the node join token. "" is
	// <data_dir>/tls.
	TLSDir string `yaml:"tls_dir,omitempty"`
	// Hosts are the names and addresses nodes and users reach gpuqd by; the
	// server certificate is made for them (and localhost, the loopback
	// addresses and the host name) when it is first created.
	Hosts []string `yaml:"hosts,omitempty"`
	// InsecurePlaintext serves TCP without TLS. Only for experiments on a
	// loopback address; Validate refuses any other.
	InsecurePlaintext bool `yaml:"insecure_plaintext,omitempty"`
	// Operators are user names (unix users on the socket, token subjects)
	// that may do everything. Root and gpuqd's own user always may.
	Operators []string `yaml:"operators,omitempty"`
	// AuditLog is the audit log's path; "" is <data_dir>/audit.log.
	AuditLog string `yaml:"audit_log,omitempty"`
	// TokenTTL is how long a token lives when `token create` says nothing;
	// MaxTokenTTL bounds what it may ask.
	TokenTTL    Duration `yaml:"token_ttl"`
	MaxTokenTTL Duration `yaml:"max_token_ttl"`
}

// Limits keep one client from hurting the rest. 0 turns a limit off.
type Limits struct {
	MaxRequestBytes int `yaml:"max_request_bytes"` // the largest request gpuqd reads
	// SubmitRate is each user's submissions per second, with bursts up to
	// SubmitBurst. Operators are not limited.
	SubmitRate  float64 `yaml:"submit_rate"`
	SubmitBurst int     `yaml:"submit_burst"`
	// Pending jobs (array tasks count one each) per user and per team.
	MaxPendingPerUser int `yaml:"max_pending_per_user"`
	MaxPendingPerTeam int `yaml:"max_pending_per_team"`
}

// DefaultSecurity and DefaultLimits are the defaults of the sections.
func DefaultSecurity() Security {
	return Security{TokenTTL: Duration(30 * 24 * time.Hour), MaxTokenTTL: Duration(365 * 24 * time.Hour)}
}

// DefaultLimits are generous enough for array jobs of 10,000 tasks.
func DefaultLimits() Limits {
	return Limits{MaxRequestBytes: 4 << 20, SubmitRate: 20, SubmitBurst: 100, MaxPendingPerUser: 20000, MaxPendingPerTeam: 100000}
}

// TLSDirPath is Security.TLSDir, or its default under the data dir.
func (c *Config) TLSDirPath() string {
	if c.Security.TLSDir != "" {
		return c.Security.TLSDir
	}
	return filepath.Join(c.DataDir, "tls")
}

// AuditLogPath is Security.AuditLog, or its default under the data dir.
func (c *Config) AuditLogPath() string {
	if c.Security.AuditLog != "" {
		return c.Security.AuditLog
	}
	return filepath.Join(c.DataDir, "audit.log")
}

func (c *Config) validateSecurity(v *validator) {
	s := &c.Security
	if s.InsecurePlaintext && c.Listen.TCP != "" && !loopback(c.Listen.TCP) {
		v.add("security.insecure_plaintext", "only for a loopback listen.tcp address (127.0.0.1, ::1, localhost), not %q", c.Listen.TCP)
	}
	for i, o := range s.Operators {
		if o == "" {
			v.add(fmt.Sprintf("security.operators[%d]", i), "must not be empty")
		}
	}
	if s.TokenTTL <= 0 {
		v.add("security.token_ttl", "must be positive, got %s", s.TokenTTL)
	}
	if s.MaxTokenTTL < s.TokenTTL {
		v.add("security.max_token_ttl", "must be at least token_ttl (%s), got %s", s.TokenTTL, s.MaxTokenTTL)
	}
	l := &c.Limits
	if l.MaxRequestBytes < 0 || (l.MaxRequestBytes > 0 && l.MaxRequestBytes < 64<<10) {
		v.add("limits.max_request_bytes", "must be 0 (the gRPC default, 4 MiB) or at least 65536, got %d", l.MaxRequestBytes)
	}
	if l.SubmitRate < 0 {
		v.add("limits.submit_rate", "must not be negative, got %g", l.SubmitRate)
	}
	if l.SubmitBurst < 0 || (l.SubmitRate > 0 && l.SubmitBurst < 1) {
		v.add("limits.submit_burst", "must be at least 1 when submit_rate is set, got %d", l.SubmitBurst)
	}
	if l.MaxPendingPerUser < 0 {
		v.add("limits.max_pending_per_user", "must not be negative, got %d", l.MaxPendingPerUser)
	}
	if l.MaxPendingPerTeam < 0 {
		v.add("limits.max_pending_per_team", "must not be negative, got %d", l.MaxPendingPerTeam)
	}
}

// loopback reports whether a host:port names a loopback address.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
