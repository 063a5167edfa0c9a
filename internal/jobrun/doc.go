// Package jobrun holds what the node daemon and its runtimes share about
// running one job: the Spec of what to run, and the Exit it came to. The
// runtimes themselves (internal/execrun for plain processes,
// internal/ctrdrun for containerd) each implement the node agent's Runtime
// interface; this package has no behaviour.
package jobrun
