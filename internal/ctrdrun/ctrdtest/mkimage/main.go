// Command mkimage writes the small OCI image the tests use (a static
// busybox, /etc/passwd, /tmp) as an OCI layout tar, for `make demo` to
// import into a private containerd where no registry is reachable:
//
//	mkimage -busybox /bin/busybox -ref localhost/gpuq-demo:1 > image.tar
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/gpuq/gpuq/internal/ctrdrun/ctrdtest"
)

func main() {
	busybox := flag.String("busybox", ctrdtest.BusyboxPath, "a static busybox")
	ref := flag.String("ref", ctrdtest.ImageRef, "the image's reference")
	flag.Parse()
	tar, err := ctrdtest.BuildLayout(*busybox, *ref)
	if err == nil {
		_, err = os.Stdout.Write(tar)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
		os.Exit(1)
	}
}
