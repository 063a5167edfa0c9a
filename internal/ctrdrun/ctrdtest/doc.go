// Package ctrdtest gives tests a real containerd: Start runs a private
// instance (or uses the one GPUQ_CONTAINERD_ADDRESS names) and Image
// builds a small busybox image as an OCI layout by hand and imports it, as
// no registry can be reached. Tests that use it are skipped, loudly,
// without root or without the containerd and runc binaries, unless
// GPUQ_REQUIRE_CONTAINERD=1 turns the skip into a failure.
package ctrdtest
