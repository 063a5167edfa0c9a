package ctrdtest

import (
	"bytes"
	"context"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
)

func TestBuildLayoutReproducible(t *testing.T) {
	a, err := BuildLayout(BusyboxPath, ImageRef)
	if err != nil {
		t.Skipf("no busybox here: %v", err)
	}
	b, err := BuildLayout(BusyboxPath, ImageRef)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two builds of the test image differ")
	}
}

func TestStartAndImage(t *testing.T) {
	addr := Start(t)
	ref := Image(t, addr)
	if again := Image(t, addr); again != ref {
		t.Fatalf("second Image = %q, want %q", again, ref)
	}
	c, err := containerd.New(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), Namespace), 10*time.Second)
	defer cancel()
	img, err := c.GetImage(ctx, ref)
	if err != nil {
		t.Fatalf("image %s not in namespace %s: %v", ref, Namespace, err)
	}
	ok, err := img.IsUnpacked(ctx, "overlayfs")
	if err != nil || !ok {
		ok2, err2 := img.IsUnpacked(ctx, "native")
		if err2 != nil || !ok2 {
			t.Fatalf("image not unpacked: overlayfs %v %v, native %v %v", ok, err, ok2, err2)
		}
	}
}
