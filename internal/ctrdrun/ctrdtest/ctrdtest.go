package ctrdtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
)

const (
	// EnvAddress names a running containerd to use instead of starting one.
	EnvAddress = "GPUQ_CONTAINERD_ADDRESS"
	// EnvRequire, set to 1, turns a skip into a failure (CI sets it).
	EnvRequire = "GPUQ_REQUIRE_CONTAINERD"
	// Namespace is the containerd namespace the tests use; Image imports
	// into it.
	Namespace = "gpuq-test"
	// ImageRef is the reference Image imports the test image under.
	ImageRef = "localhost/gpuq-test:1"
	// BusyboxPath is the host's static busybox the test image is built from.
	BusyboxPath = "/usr/bin/busybox"
)

// Start returns the address of a containerd for the test: the one named
// by GPUQ_CONTAINERD_ADDRESS if set, else a private instance started for
// this test and stopped at its cleanup. Without root or without the
// containerd and runc binaries the test is skipped, loudly, unless
// GPUQ_REQUIRE_CONTAINERD=1 makes it fail.
func Start(t testing.TB) string {
	t.Helper()
	if addr := os.Getenv(EnvAddress); addr != "" {
		return addr
	}
	return StartDaemon(t).Address
}

// StartDaemon always starts a private containerd (never the one
// GPUQ_CONTAINERD_ADDRESS names), for tests that kill and restart it.
// It skips or fails as Start does when it cannot.
func StartDaemon(t testing.TB) *Daemon {
	t.Helper()
	if why := cannotStart(); why != "" {
		unavailable(t, why)
	}
	d, err := newDaemon(t)
	if err != nil {
		unavailable(t, err.Error())
	}
	return d
}

// unavailable skips the test, or fails it where containerd is required.
func unavailable(t testing.TB, why string) {
	t.Helper()
	msg := "containerd tests SKIPPED: " + why + " (run as root with containerd and runc installed, or set " + EnvAddress + ")"
	if os.Getenv(EnvRequire) == "1" {
		t.Fatal(msg + "; " + EnvRequire + "=1 requires them")
	}
	fmt.Fprintln(os.Stderr, "!!! "+msg)
	t.Skip(msg)
}

func cannotStart() string {
	if goruntime.GOOS != "linux" {
		return "not Linux"
	}
	if os.Geteuid() != 0 {
		return "not root"
	}
	for _, bin := range []string{"containerd", "runc", "containerd-shim-runc-v2"} {
		if _, err := exec.LookPath(bin); err != nil {
			return bin + " not found in PATH"
		}
	}
	return ""
}

const configTemplate = `version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q
`

// Daemon is a private containerd under a short temporary directory
// (socket paths are limited to 108 bytes).
type Daemon struct {
	// Address is its gRPC socket.
	Address string

	t       testing.TB
	dir     string
	config  string
	logPath string
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan error
	logFile *os.File
}

func newDaemon(t testing.TB) (*Daemon, error) {
	dir, err := os.MkdirTemp("", "ctrd")
	if err != nil {
		return nil, err
	}
	d := &Daemon{
		Address: filepath.Join(dir, "c.sock"),
		t:       t,
		dir:     dir,
		config:  filepath.Join(dir, "config.toml"),
		logPath: filepath.Join(dir, "containerd.log"),
	}
	config := fmt.Sprintf(configTemplate,
		filepath.Join(dir, "root"), filepath.Join(dir, "state"),
		d.Address, d.Address+".ttrpc", filepath.Join(dir, "opt"))
	if err := os.WriteFile(d.config, []byte(config), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := d.run(); err != nil {
		d.stop()
		os.RemoveAll(dir)
		return nil, err
	}
	t.Cleanup(d.cleanup)
	return d, nil
}

// run starts the containerd process and waits until it answers.
func (d *Daemon) run() error {
	logFile, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command("containerd", "--config", d.config)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so a ^C to the test does not reach it
	// before the cleanup has deleted the containers.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start containerd: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	d.mu.Lock()
	d.cmd, d.exited, d.logFile = cmd, exited, logFile
	d.mu.Unlock()
	if err := waitReady(d.Address, exited, 10*time.Second); err != nil {
		b, _ := os.ReadFile(d.logPath)
		return fmt.Errorf("containerd did not come up: %w\n%s", err, tail(b, 4000))
	}
	return nil
}

// Kill kills containerd with SIGKILL. Shims and the jobs they run go on.
func (d *Daemon) Kill() {
	d.mu.Lock()
	cmd, exited := d.cmd, d.exited
	d.cmd = nil
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
	d.logFile.Close()
}

// Restart starts containerd again, on the same state, after Kill.
func (d *Daemon) Restart() {
	d.t.Helper()
	d.Kill()
	if err := d.run(); err != nil {
		d.t.Fatal(err)
	}
}

// stop ends containerd: SIGTERM, then SIGKILL after 10 s.
func (d *Daemon) stop() {
	d.mu.Lock()
	cmd, exited := d.cmd, d.exited
	d.cmd = nil
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
	d.logFile.Close()
}

func (d *Daemon) cleanup() {
	d.mu.Lock()
	running := d.cmd != nil
	d.mu.Unlock()
	if running {
		cleanupContainers(d.t, d.Address)
	}
	d.stop()
	if d.t.Failed() {
		if b, err := os.ReadFile(d.logPath); err == nil {
			d.t.Logf("containerd log (tail):\n%s", tail(b, 4000))
		}
	}
	if err := os.RemoveAll(d.dir); err != nil {
		d.t.Logf("remove %s: %v", d.dir, err)
	}
}

func waitReady(addr string, exited <-chan error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("containerd exited: %v", err)
		default:
		}
		if _, err := os.Stat(addr); err == nil {
			c, err := containerd.New(addr, containerd.WithTimeout(time.Second))
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_, err = c.Version(ctx)
				cancel()
				c.Close()
				if err == nil {
					return nil
				}
			}
			if time.Now().After(deadline) {
				return err
			}
		} else if time.Now().After(deadline) {
			return fmt.Errorf("no socket at %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cleanupContainers deletes every task and container the private
// containerd still holds, so that no shim outlives the test.
func cleanupContainers(t testing.TB, addr string) {
	c, err := containerd.New(addr, containerd.WithTimeout(2*time.Second))
	if err != nil {
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nss, err := c.NamespaceService().List(ctx)
	if err != nil {
		return
	}
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		cs, err := c.Containers(nctx)
		if err != nil {
			continue
		}
		for _, ctr := range cs {
			if task, err := ctr.Task(nctx, nil); err == nil {
				if _, err := task.Delete(nctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
					t.Logf("cleanup: delete task %s/%s: %v", ns, ctr.ID(), err)
				}
			}
			if err := ctr.Delete(nctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
				t.Logf("cleanup: delete container %s/%s: %v", ns, ctr.ID(), err)
			}
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

var (
	layoutOnce sync.Once
	layoutTar  []byte
	layoutErr  error

	importMu sync.Mutex
	imported = map[string]*importResult{}
)

type importResult struct {
	once sync.Once
	err  error
}

// Image imports the test image (busybox, /etc/passwd, /tmp) into
// containerd at address, namespace Namespace, unpacked for the overlayfs
// and native snapshotters, and returns its reference. The image is built
// once per process and imported once per address.
func Image(t testing.TB, address string) string {
	t.Helper()
	return ImageIn(t, address, Namespace)
}

// ImageIn is Image for another namespace.
func ImageIn(t testing.TB, address, namespace string) string {
	t.Helper()
	layoutOnce.Do(func() { layoutTar, layoutErr = BuildLayout(BusyboxPath, ImageRef) })
	if layoutErr != nil {
		t.Fatalf("build test image: %v", layoutErr)
	}
	importMu.Lock()
	key := address + "\x00" + namespace
	r := imported[key]
	if r == nil {
		r = &importResult{}
		imported[key] = r
	}
	importMu.Unlock()
	r.once.Do(func() { r.err = importLayout(address, namespace, layoutTar) })
	if r.err != nil {
		t.Fatalf("import test image into %s: %v", address, r.err)
	}
	return ImageRef
}

func importLayout(address, namespace string, layout []byte) error {
	c, err := containerd.New(address, containerd.WithTimeout(5*time.Second))
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), namespace), time.Minute)
	defer cancel()
	ctx, done, err := c.WithLease(ctx)
	if err != nil {
		return fmt.Errorf("lease: %w", err)
	}
	defer done(context.WithoutCancel(ctx))
	imgs, err := c.Import(ctx, bytes.NewReader(layout))
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if len(imgs) == 0 {
		return errors.New("import: no image in the archive")
	}
	for _, sn := range []string{"overlayfs", "native"} {
		if !snapshotterUsable(ctx, c, sn) {
			continue
		}
		for _, img := range imgs {
			if err := containerd.NewImage(c, img).Unpack(ctx, sn); err != nil {
				return fmt.Errorf("unpack %s for %s: %w", img.Name, sn, err)
			}
		}
	}
	return nil
}

func snapshotterUsable(ctx context.Context, c *containerd.Client, name string) bool {
	resp, err := c.IntrospectionService().Plugins(ctx, "type==io.containerd.snapshotter.v1,id=="+name)
	if err != nil || len(resp.Plugins) == 0 {
		return false
	}
	return resp.Plugins[0].InitErr == nil
}

// BuildLayout writes an OCI image layout, as a tar, of a one-layer image
// holding the static busybox at busyboxPath with its applet links in /bin,
// an /etc/passwd and /etc/group with root and nobody, and /tmp. The
// output is reproducible: sorted names, zero times, owner 0, and a gzip
// header without name or time (as gzip -n).
func BuildLayout(busyboxPath, ref string) ([]byte, error) {
	bb, err := os.ReadFile(busyboxPath)
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(busyboxPath, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", busyboxPath, err)
	}
	applets := strings.Fields(string(out))

	var entries []tarEntry
	for _, d := range []string{"bin", "dev", "etc", "proc", "root", "sys", "tmp"} {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		entries = append(entries, tarEntry{name: d + "/", mode: mode, typ: tar.TypeDir})
	}
	entries = append(entries,
		tarEntry{name: "bin/busybox", mode: 0o755, typ: tar.TypeReg, data: bb},
		tarEntry{name: "etc/passwd", mode: 0o644, typ: tar.TypeReg, data: []byte(
			"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		tarEntry{name: "etc/group", mode: 0o644, typ: tar.TypeReg, data: []byte(
			"root:x:0:\nnogroup:x:65534:\n")},
	)
	for _, a := range applets {
		if a == "busybox" || strings.Contains(a, "/") {
			continue
		}
		entries = append(entries, tarEntry{name: "bin/" + a, mode: 0o777, typ: tar.TypeSymlink, link: "busybox"})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	layer, err := writeTar(entries)
	if err != nil {
		return nil, err
	}
	diffID := sha256.Sum256(layer)
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if _, err := zw.Write(layer); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	layerGz := gz.Bytes()

	config, _ := json.Marshal(map[string]any{
		"architecture": goruntime.GOARCH,
		"os":           "linux",
		"config": map[string]any{
			"Env": []string{"PATH=/bin"},
			"Cmd": []string{"/bin/sh"},
		},
		"rootfs": map[string]any{
			"type":     "layers",
			"diff_ids": []string{"sha256:" + hex.EncodeToString(diffID[:])},
		},
	})
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        descriptor("application/vnd.oci.image.config.v1+json", config, nil),
		"layers":        []any{descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layerGz, nil)},
	})
	index, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests": []any{descriptor("application/vnd.oci.image.manifest.v1+json", manifest, map[string]string{
			"io.containerd.image.name":          ref,
			"org.opencontainers.image.ref.name": ref[strings.LastIndex(ref, ":")+1:],
		})},
	})

	files := []tarEntry{
		{name: "blobs/", mode: 0o755, typ: tar.TypeDir},
		{name: "blobs/sha256/", mode: 0o755, typ: tar.TypeDir},
		{name: "index.json", mode: 0o644, typ: tar.TypeReg, data: index},
		{name: "oci-layout", mode: 0o644, typ: tar.TypeReg, data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
	}
	for _, blob := range [][]byte{config, manifest, layerGz} {
		files = append(files, tarEntry{name: "blobs/sha256/" + digestHex(blob), mode: 0o644, typ: tar.TypeReg, data: blob})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	return writeTar(files)
}

func digestHex(b []byte) string {
	d := sha256.Sum256(b)
	return hex.EncodeToString(d[:])
}

func descriptor(mediaType string, blob []byte, annotations map[string]string) map[string]any {
	d := map[string]any{
		"mediaType": mediaType,
		"digest":    "sha256:" + digestHex(blob),
		"size":      len(blob),
	}
	if annotations != nil {
		d["annotations"] = annotations
	}
	return d
}

type tarEntry struct {
	name string
	mode int64
	typ  byte
	data []byte
	link string
}

func writeTar(entries []tarEntry) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Typeflag: e.typ,
			Name:     e.name,
			Linkname: e.link,
			Mode:     e.mode,
			Size:     int64(len(e.data)),
			ModTime:  time.Unix(0, 0),
			Format:   tar.FormatPAX,
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := io.Copy(tw, bytes.NewReader(e.data)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
