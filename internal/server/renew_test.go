package server

import (
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/gpuq/gpuq/internal/auth"
	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/store"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// TestRenewCredentials: the handler's rules, with a real CA and token
// registry and gpuqd's clock set by the test.
func TestRenewCredentials(t *testing.T) {
	dir := t.TempDir()
	joined := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	if _, err := auth.Init(dir, []string{"localhost"}, joined); err != nil {
		t.Fatal(err)
	}
	ca, err := auth.LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := auth.NewSigner(make([]byte, auth.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg, err := auth.NewRegistry(signer, st, auth.Fingerprint(ca.Cert), 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := joined
	svc := NewNodeService(nil, NodeOptions{CA: ca, Tokens: reg, Now: func() time.Time { return now }})
	key, csr, err := auth.NewNodeKey("n1")
	if err != nil {
		t.Fatal(err)
	}
	_, otherCSR, err := auth.NewNodeKey("n1")
	if err != nil {
		t.Fatal(err)
	}
	_, tokInfo, err := reg.Issue("n1", auth.RoleNode, nil, auth.NodeValidity, "join token", joined)
	if err != nil {
		t.Fatal(err)
	}
	byCert := &auth.Identity{Kind: auth.KindNode, Name: "n1", Method: auth.MethodCert, Issued: joined, Key: key.Public()}
	byToken := &auth.Identity{Kind: auth.KindNode, Name: "n1", Method: auth.MethodToken, TokenID: tokInfo.Id, Issued: joined}
	renew := func(id *auth.Identity, csr []byte) (*gpuqv1.RenewCredentialsResponse, error) {
		return svc.RenewCredentials(auth.NewContext(t.Context(), id), &gpuqv1.RenewCredentialsRequest{Csr: csr})
	}

	_, err = renew(&auth.Identity{Kind: auth.KindUser, Name: "n1", Role: auth.RoleOperator, Method: auth.MethodToken}, csr)
	wantIs(t, "an operator renews node credentials", err, job.ErrPermissionDenied)
	now = joined.Add(100 * 24 * time.Hour)
	_, err = renew(byCert, csr)
	wantIs(t, "renewal before half of the lifetime", err, job.ErrInvalidState)

	now = joined.Add(200 * 24 * time.Hour)
	var fe *job.FieldError
	if _, err = renew(byCert, otherCSR); !errors.As(err, &fe) || fe.Field != "csr" {
		t.Errorf("renewal for another key than the certificate's: %v, want a csr field error", err)
	}
	if _, err = renew(byCert, []byte("not a csr")); !errors.As(err, &fe) || fe.Field != "csr" {
		t.Errorf("renewal with a broken csr: %v", err)
	}
	resp, err := renew(byCert, csr)
	if err != nil {
		t.Fatalf("renewal at 200 days: %v", err)
	}
	leaf, err := x509.ParseCertificate(resp.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := auth.IdentityFromCert(leaf); err != nil || id.Kind != auth.KindNode || id.Name != "n1" || !leaf.NotAfter.After(now.Add(364*24*time.Hour)) {
		t.Errorf("renewed certificate: %v, %v, expires %s", id, err, leaf.NotAfter)
	}
	if c, err := reg.Check(resp.NodeToken, now); err != nil || c.Subject != "n1" || c.Role != auth.RoleNode {
		t.Errorf("renewed token: %v, %v", c, err)
	}
	// By token (the unix socket): any key.
	if _, err := renew(byToken, otherCSR); err != nil {
		t.Errorf("renewal by token: %v", err)
	}
	// Revoked: the Guard refuses such a caller; should one have passed it
	// just before the revocation, the handler refuses it too.
	if _, err := reg.RevokeCertificates(auth.KindNode, "n1", now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	_, err = renew(byCert, csr)
	wantIs(t, "renewal by a revoked certificate", err, job.ErrUnauthenticated)
	_, err = renew(byToken, csr)
	wantIs(t, "renewal by a revoked token", err, job.ErrUnauthenticated)
}

func wantIs(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: %v, want %v", what, err, want)
	}
}
