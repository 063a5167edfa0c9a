package ctl

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/gpuq/gpuq/internal/auth"
	"github.com/gpuq/gpuq/internal/client"
	gpuqconfig "github.com/gpuq/gpuq/internal/config"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// The environment variables of the credentials.
const (
	envToken       = "GPUQ_TOKEN"       // a token, instead of the credentials file's
	envCA          = "GPUQ_CA"          // a CA certificate file to trust gpuqd with
	envCredentials = "GPUQ_CREDENTIALS" // the credentials file
	envInsecure    = "GPUQ_INSECURE"    // "1": plaintext TCP (gpuqd's insecure loopback mode)
	envCert        = "GPUQ_CERT"        // a client certificate file, instead of a token
	envKey         = "GPUQ_KEY"         // its key file
)

// credentials is what `gpuqctl login` stores, in a file of mode 0600.
type credentials struct {
	Server string `json:"server,omitempty"`
	Token  string `json:"token"`
}

// credentialsPath is $GPUQ_CREDENTIALS, else $XDG_CONFIG_HOME/gpuq/credentials,
// else ~/.config/gpuq/credentials; "" without a home directory.
func (r *runner) credentialsPath() string {
	if p := r.cfg.getenv(envCredentials); p != "" {
		return p
	}
	if d := r.cfg.getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "gpuq", "credentials")
	}
	if h := r.cfg.getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "gpuq", "credentials")
	}
	return ""
}

// readCredentials reads the credentials file; a missing file is no error.
// A file others may read is refused, as ssh refuses such keys.
func (r *runner) readCredentials() (credentials, error) {
	var c credentials
	p := r.credentialsPath()
	if p == "" {
		return c, nil
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return c, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return c, &inputError{source: p, err: fmt.Errorf("readable by others (mode %04o): run chmod 600 %s", st.Mode().Perm(), p)}
	}
	if err := json.NewDecoder(f).Decode(&c); err != nil {
		return c, &inputError{source: p, err: fmt.Errorf("not a gpuq credentials file: %w", err)}
	}
	return c, nil
}

// security is how this invocation authenticates: $GPUQ_TOKEN or the
// stored token, --ca or $GPUQ_CA, --insecure-plaintext or $GPUQ_INSECURE.
func (r *runner) security(c *cli.Context, creds credentials) (client.Security, error) {
	sec := client.Security{Token: creds.Token}
	if t := r.cfg.getenv(envToken); t != "" {
		sec.Token = t
	}
	ca := c.String("ca")
	if ca == "" {
		ca = r.cfg.getenv(envCA)
	}
	if ca != "" {
		pool, err := auth.ReadCertPool(ca)
		if err != nil {
			return sec, &inputError{source: "--ca", err: err}
		}
		sec.Roots = pool
	}
	sec.Insecure = c.Bool("insecure-plaintext") || r.cfg.getenv(envInsecure) == "1"
	cert, key := c.String("cert"), c.String("key")
	if cert == "" {
		cert, key = r.cfg.getenv(envCert), r.cfg.getenv(envKey)
	}
	if cert != "" {
		if key == "" {
			return sec, &inputError{source: "--key", err: errors.New("a client certificate needs its key (--key or $GPUQ_KEY)")}
		}
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return sec, &inputError{source: "--cert", err: err}
		}
		if sec.Roots == nil {
			return sec, &inputError{source: "--cert", err: errors.New("a client certificate needs gpuqd's CA to trust gpuqd (--ca or $GPUQ_CA; ca.crt beside the certificate)")}
		}
		sec.Certificate, sec.Token = &pair, ""
	}
	return sec, nil
}

func (r *runner) certCommand() *cli.Command {
	return &cli.Command{
		Name:  "cert",
		Usage: "issue client certificates to users (operators)",
		Subcommands: []*cli.Command{{
			Name:  "create",
			Usage: "make a key and a client certificate for a user, in --out",
			Description: `Makes a new key here, has gpuqd sign a certificate for it, and writes
USER.key (0600), USER.crt and ca.crt into --out. The user then runs
gpuqctl --server HOST:PORT --ca ca.crt --cert USER.crt --key USER.key ...
(or $GPUQ_CA, $GPUQ_CERT, $GPUQ_KEY). Certificates cannot be revoked: keep
--ttl short; tokens (gpuqctl token create) can be.`,
			UsageText: "gpuqctl cert create --user NAME [--team TEAM]... [--role ROLE] [--ttl 720h] --out DIR",
			Flags: []cli.Flag{
				newStringFlag(&cli.StringFlag{Name: "user", Usage: "the user the certificate names", Required: true}),
				newStringSliceFlag(&cli.StringSliceFlag{Name: "team", Usage: "a `TEAM` the user belongs to (repeatable, or comma-separated)"}),
				newStringFlag(&cli.StringFlag{Name: "role", Value: "user", Usage: "user, team-admin (of --team) or operator"}),
				newStringFlag(&cli.StringFlag{Name: "ttl", Usage: "lifetime, such as 720h or 30d (default: gpuqd's security.token_ttl)"}),
				newStringFlag(&cli.StringFlag{Name: "out", Usage: "the `DIR` to write the key and certificates into", Required: true}),
			},
			OnUsageError: onUsageError,
			Action: func(c *cli.Context) error {
				ttl, err := ttlFlag(c)
				if err != nil {
					return err
				}
				user := c.String("user")
				key, csr, err := auth.NewNodeKey(user)
				if err != nil {
					return err
				}
				cl, err := r.client(c)
				if err != nil {
					return err
				}
				resp, err := cl.CreateCertificate(c.Context, user, c.String("role"), splitLists(c.StringSlice("team")), ttl, csr)
				if err != nil {
					return err
				}
				dir := c.String("out")
				if err := os.MkdirAll(dir, 0o700); err != nil {
					return err
				}
				if err := auth.WriteKey(filepath.Join(dir, user+".key"), key); err != nil {
					return err
				}
				if err := auth.WriteCert(filepath.Join(dir, user+".crt"), resp.Certificate); err != nil {
					return err
				}
				if err := auth.WriteCert(filepath.Join(dir, "ca.crt"), resp.CaCertificate); err != nil {
					return err
				}
				fmt.Fprintf(r.stdout, "Wrote %s.key, %s.crt and ca.crt to %s; the certificate expires %s.\n", user, user, dir,
					resp.Expires.AsTime().In(r.cfg.loc).Format("2006-01-02 15:04 MST"))
				return nil
			},
		}, {
			Name:  "revoke",
			Usage: "refuse every certificate issued so far to a node (and its node tokens) or a user",
			Description: `A revoked node is refused at once; to bring it back, delete its
<state_dir>/tls and give it the join token again. A revoked user needs a
new certificate (gpuqctl cert create) or a token.`,
			UsageText: "gpuqctl cert revoke --node NAME | --user NAME",
			Flags: []cli.Flag{
				newStringFlag(&cli.StringFlag{Name: "node", Usage: "the node `NAME`"}),
				newStringFlag(&cli.StringFlag{Name: "user", Usage: "the user `NAME`"}),
			},
			OnUsageError: onUsageError,
			Action: func(c *cli.Context) error {
				kind, name := "node", c.String("node")
				if u := c.String("user"); u != "" {
					if name != "" {
						return usagef(c, "name --node or --user, not both")
					}
					kind, name = "user", u
				}
				if name == "" {
					return usagef(c, "name a --node or a --user")
				}
				cl, err := r.client(c)
				if err != nil {
					return err
				}
				resp, err := cl.RevokeCertificates(c.Context, kind, name)
				if err != nil {
					return err
				}
				fmt.Fprintf(r.stdout, "Revoked the certificates of %s %s issued before %s", kind, name,
					resp.Revoked.AsTime().In(r.cfg.loc).Format("2006-01-02 15:04:05 MST"))
				if len(resp.TokenIds) > 0 {
					fmt.Fprintf(r.stdout, ", and its tokens %s", strings.Join(resp.TokenIds, ", "))
				}
				fmt.Fprintln(r.stdout, ".")
				return nil
			},
		}},
	}
}

// ttlFlag reads --ttl; 0 when it is not set.
func ttlFlag(c *cli.Context) (time.Duration, error) {
	s := c.String("ttl")
	if s == "" {
		return 0, nil
	}
	d, err := gpuqconfig.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, usagef(c, "--ttl: %q is not a positive duration", s)
	}
	return d, nil
}

func (r *runner) loginCommand() *cli.Command {
	return &cli.Command{
		Name:  "login",
		Usage: "store a token (read from standard input or --token-file) for later commands",
		Description: `Reads a token an operator issued (gpuqctl token create), checks it with
gpuqd, and stores it with the server's address in the credentials file
($GPUQ_CREDENTIALS, else ~/.config/gpuq/credentials, mode 0600). Later
commands use both. The token carries the fingerprint of gpuqd's CA, so
nothing else is needed to trust gpuqd over TCP.`,
		Flags: []cli.Flag{
			newStringFlag(&cli.StringFlag{Name: "token-file", Usage: "read the token from `FILE` instead of standard input"}),
		},
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			tok, err := r.readToken(c.String("token-file"))
			if err != nil {
				return err
			}
			claims, err := auth.ReadClaims(tok)
			if err != nil {
				return &inputError{source: "token", err: err}
			}
			r.token = tok
			cl, err := r.client(c)
			if err != nil {
				return err
			}
			who, err := cl.WhoAmI(c.Context)
			if err != nil {
				return err
			}
			creds := credentials{Server: cl.Target(), Token: tok}
			b, _ := json.MarshalIndent(creds, "", "  ")
			p := r.credentialsPath()
			if p == "" {
				return fmt.Errorf("no place for the credentials: set $HOME or $%s", envCredentials)
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				return err
			}
			if err := auth.WriteSecret(p, append(b, '\n')); err != nil {
				return err
			}
			fmt.Fprintf(r.stdout, "Logged in to %s as %s (%s%s); token %s expires %s.\nCredentials stored in %s.\n",
				cl.Target(), who.Name, who.Role, teamsText(who.Teams), claims.ID,
				claims.Expires.In(r.cfg.loc).Format("2006-01-02 15:04 MST"), p)
			return nil
		},
	}
}

func teamsText(teams []string) string {
	if len(teams) == 0 {
		return ""
	}
	return "; teams " + strings.Join(teams, ", ")
}

// readToken reads a token from path, or standard input when path is "".
func (r *runner) readToken(path string) (string, error) {
	var in io.Reader = r.cfg.stdin
	src := "standard input"
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return "", &inputError{source: "--token-file", err: err}
		}
		defer f.Close()
		in, src = f, path
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", &inputError{source: src, err: err}
	}
	tok := strings.TrimSpace(line)
	if tok == "" {
		return "", &inputError{source: src, err: errors.New("no token")}
	}
	return tok, nil
}

func (r *runner) logoutCommand() *cli.Command {
	return &cli.Command{
		Name:  "logout",
		Usage: "remove the stored credentials",
		Action: func(c *cli.Context) error {
			p := r.credentialsPath()
			if p == "" {
				return nil
			}
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			fmt.Fprintf(r.stdout, "Removed %s.\n", p)
			return nil
		},
	}
}

func (r *runner) whoamiCommand() *cli.Command {
	return &cli.Command{
		Name:  "whoami",
		Usage: "show who gpuqd takes you for: user, role, teams, and how it knows",
		Action: func(c *cli.Context) error {
			cl, err := r.client(c)
			if err != nil {
				return err
			}
			w, err := cl.WhoAmI(c.Context)
			if err != nil {
				return err
			}
			fmt.Fprintf(r.stdout, "%s %s role=%s teams=%s admin_of=%s auth=%s", w.Kind, w.Name, orNone(w.Role),
				orNone(strings.Join(w.Teams, ",")), orNone(strings.Join(w.AdminOf, ",")), w.Method)
			if w.TokenId != "" {
				fmt.Fprintf(r.stdout, " token=%s", w.TokenId)
			}
			fmt.Fprintln(r.stdout)
			return nil
		},
	}
}

func (r *runner) tokenCommand() *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "issue, list and revoke user tokens (operators)",
		Subcommands: []*cli.Command{{
			Name:      "create",
			Usage:     "issue a token; it is printed once, on standard output",
			UsageText: "gpuqctl token create --user NAME [--team TEAM]... [--role user|team-admin|operator] [--ttl 720h]",
			Flags: []cli.Flag{
				newStringFlag(&cli.StringFlag{Name: "user", Usage: "the user the token names", Required: true}),
				newStringSliceFlag(&cli.StringSliceFlag{Name: "team", Usage: "a `TEAM` the user belongs to (repeatable, or comma-separated)"}),
				newStringFlag(&cli.StringFlag{Name: "role", Value: "user", Usage: "user, team-admin (of --team) or operator"}),
				newStringFlag(&cli.StringFlag{Name: "ttl", Usage: "lifetime, such as 720h or 30d (default: gpuqd's security.token_ttl)"}),
			},
			OnUsageError: onUsageError,
			Action: func(c *cli.Context) error {
				ttl, err := ttlFlag(c)
				if err != nil {
					return err
				}
				cl, err := r.client(c)
				if err != nil {
					return err
				}
				resp, err := cl.CreateToken(c.Context, c.String("user"), c.String("role"), splitLists(c.StringSlice("team")), ttl)
				if err != nil {
					return err
				}
				fmt.Fprintln(r.stdout, resp.Token)
				fmt.Fprintf(r.stderr, "Issued %s for %s (%s%s), expires %s. Give it to the user for `gpuqctl login`.\n",
					resp.Info.Id, resp.Info.Subject, resp.Info.Role, teamsText(resp.Info.Teams),
					resp.Info.Expires.AsTime().In(r.cfg.loc).Format("2006-01-02 15:04 MST"))
				return nil
			},
		}, {
			Name:  "list",
			Usage: "list issued tokens (never the tokens themselves)",
			Flags: []cli.Flag{
				newBoolFlag(&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "also revoked and expired tokens"}),
			},
			OnUsageError: onUsageError,
			Action: func(c *cli.Context) error {
				cl, err := r.client(c)
				if err != nil {
					return err
				}
				list, err := cl.ListTokens(c.Context, c.Bool("all"))
				if err != nil {
					return err
				}
				_, err = io.WriteString(r.stdout, formatTokens(list, r.cfg.now(), r.cfg.loc))
				return err
			},
		}, {
			Name:      "revoke",
			Usage:     "revoke tokens by id",
			UsageText: "gpuqctl token revoke ID...",
			Action: func(c *cli.Context) error {
				if c.NArg() == 0 {
					return usagef(c, "name at least one token id")
				}
				cl, err := r.client(c)
				if err != nil {
					return err
				}
				for _, id := range c.Args().Slice() {
					info, err := cl.RevokeToken(c.Context, id)
					if err != nil {
						return err
					}
					fmt.Fprintf(r.stdout, "Revoked %s (%s).\n", info.Id, info.Subject)
				}
				return nil
			},
		}},
	}
}

// formatTokens is the table of `token list`.
func formatTokens(list []*gpuqv1.TokenInfo, now time.Time, loc *time.Location) string {
	rows := [][]string{{"ID", "SUBJECT", "ROLE", "TEAMS", "ISSUED", "EXPIRES", "STATE", "ISSUED_BY"}}
	const layout = "2006-01-02T15:04"
	for _, t := range list {
		state := "active"
		switch {
		case t.Revoked != nil:
			state = "revoked"
		case !now.Before(t.Expires.AsTime()):
			state = "expired"
		}
		rows = append(rows, []string{t.Id, t.Subject, t.Role, orNone(strings.Join(t.Teams, ",")),
			t.Issued.AsTime().In(loc).Format(layout), t.Expires.AsTime().In(loc).Format(layout), state, t.IssuedBy})
	}
	var b strings.Builder
	writeColumns(&b, rows)
	return b.String()
}

// whoami is the name gpuqd takes this caller for.
func (r *runner) whoami(c *cli.Context) (string, error) {
	cl, err := r.client(c)
	if err != nil {
		return "", err
	}
	who, err := cl.WhoAmI(c.Context)
	if err != nil {
		return "", fmt.Errorf("who am I: %w", err)
	}
	return who.GetName(), nil
}

// username is who gpuqd will take this invocation for: the subject of the
// token in use, else the local user (gpuqd knows local users by uid).
func (r *runner) username() (string, error) {
	tok := r.token
	if tok == "" {
		tok = r.cfg.getenv(envToken)
	}
	if tok == "" {
		if creds, err := r.readCredentials(); err == nil {
			tok = creds.Token
		}
	}
	if tok != "" {
		if c, err := auth.ReadClaims(tok); err == nil {
			return c.Subject, nil
		}
	}
	return r.cfg.username()
}
