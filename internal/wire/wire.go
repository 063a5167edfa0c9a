package wire

import (
	"sync"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// ConsumeTag is protowire.ConsumeTag with the tag of one byte (a field
// number under 16, as most are) read first. It is over Go's inlining
// budget: the hottest loops (accounting's decoder, the store's record
// heads) write that one-byte case out themselves.
func ConsumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	if len(b) > 0 && b[0] >= 1<<3 && b[0] < 0x80 {
		return protowire.Number(b[0] >> 3), protowire.Type(b[0] & 7), 1
	}
	return protowire.ConsumeTag(b)
}

// ConsumeVarint is protowire.ConsumeVarint with the varint of one byte
// read first (not inlined either; see ConsumeTag).
func ConsumeVarint(b []byte) (uint64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	return protowire.ConsumeVarint(b)
}

// ConsumeBytes is protowire.ConsumeBytes with ConsumeVarint.
func ConsumeBytes(b []byte) ([]byte, int) {
	m, n := ConsumeVarint(b)
	if n < 0 {
		return nil, n
	}
	if m > uint64(len(b)-n) {
		return nil, -1
	}
	return b[n : n+int(m)], n + int(m)
}

// VarintPair reads a message of which only the varint fields first and
// second matter (a JobRef's id and task, a Timestamp's seconds and nanos):
// the last value of each, and whether it was there; other fields are
// skipped. ok is false when b is malformed.
func VarintPair(b []byte, first, second protowire.Number) (v1, v2 uint64, has1, has2, ok bool) {
	for len(b) > 0 {
		num, typ, n := ConsumeTag(b)
		if n < 0 {
			return 0, 0, false, false, false
		}
		b = b[n:]
		if typ == protowire.VarintType && (num == first || num == second) {
			v, n := ConsumeVarint(b)
			if n < 0 {
				return 0, 0, false, false, false
			}
			b = b[n:]
			if num == first {
				v1, has1 = v, true
			} else {
				v2, has2 = v, true
			}
			continue
		}
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return 0, 0, false, false, false
		}
		b = b[n:]
	}
	return v1, v2, has1, has2, true
}

// BufferPool is a gRPC mem.BufferPool of buffers of encoded messages that
// are written or copied over whole before they are read. Unlike gRPC's
// pools it does not clear a buffer it gives again (pages of records are a
// quarter of a megabyte).
type BufferPool struct{ pool sync.Pool }

var _ mem.BufferPool = (*BufferPool)(nil)

// Get returns a buffer of length n, its contents undefined.
func (p *BufferPool) Get(n int) *[]byte {
	if b, ok := p.pool.Get().(*[]byte); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n)
	return &b
}

// Put gives b back.
func (p *BufferPool) Put(b *[]byte) { p.pool.Put(b) }
