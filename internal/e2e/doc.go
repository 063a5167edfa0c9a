// Package e2e holds end-to-end tests that build and start the real binaries
// (gpuqd, gpuqctl) on a unix socket in a temporary directory. It has no
// non-test code besides this comment.
package e2e
