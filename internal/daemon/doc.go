// Package daemon wires gpuqd together: it loads the config, opens the store,
// starts the queue and serves gRPC on TCP and on a unix socket, tells systemd
// when it is ready, and stops cleanly on a signal. gpuqd/main.go only calls
// Main.
package daemon
