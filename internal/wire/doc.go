// Package wire has the protobuf wire-format readers of the hot decoding
// loops (accounting records in gpuqd's store and in gpuqctl): protowire's,
// with the common one-byte case first; and the pool of the buffers of
// pages of records that gpuqd sends and gpuqctl receives without copying.
package wire
