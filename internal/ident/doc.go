// Package ident holds the spelling rules of the names gpuq accepts from its
// configs and from nodes: team, pool and node names, GPU types, regions and
// QOS names. They are written out by hand rather than as regular
// expressions: gpuqctl links them, and compiling a regular expression with
// a bounded repetition costs a short-lived process a millisecond of
// start-up on a small machine.
package ident
