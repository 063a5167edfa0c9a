package wire

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// The readers agree with protowire's on every input, short and truncated
// ones included.
func FuzzConsume(f *testing.F) {
	for _, seed := range [][]byte{nil, {0x08}, {0x08, 0x96, 0x01}, {0x80}, {0xfa, 0x01, 0x02, 'h', 'i'}, {0x0a, 0x05, 'a'}, {0x7f},
		{0x08, 0x05, 0x10, 0x07, 0x1a, 0x01, 'x', 0x08, 0x06}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n1, t1, l1 := ConsumeTag(b)
		n2, t2, l2 := protowire.ConsumeTag(b)
		if n1 != n2 || t1 != t2 || l1 != l2 {
			t.Errorf("ConsumeTag(%x) = %v %v %v, protowire %v %v %v", b, n1, t1, l1, n2, t2, l2)
		}
		v1, m1 := ConsumeVarint(b)
		v2, m2 := protowire.ConsumeVarint(b)
		if v1 != v2 || m1 != m2 {
			t.Errorf("ConsumeVarint(%x) = %v %v, protowire %v %v", b, v1, m1, v2, m2)
		}
		if v1, v2, h1, h2, ok := VarintPair(b, 1, 2); ok != validMessage(b) {
			t.Errorf("VarintPair(%x) ok = %v", b, ok)
		} else if ok {
			w1, w2, g1, g2 := lastVarints(b)
			if v1 != w1 || v2 != w2 || h1 != g1 || h2 != g2 {
				t.Errorf("VarintPair(%x) = %v %v %v %v, want %v %v %v %v", b, v1, v2, h1, h2, w1, w2, g1, g2)
			}
		}
		b1, k1 := ConsumeBytes(b)
		b2, k2 := protowire.ConsumeBytes(b)
		if string(b1) != string(b2) || k1 != k2 {
			t.Errorf("ConsumeBytes(%x) = %x %v, protowire %x %v", b, b1, k1, b2, k2)
		}
	})
}

// validMessage reports whether b is a sequence of well-formed fields, by
// protowire.
func validMessage(b []byte) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return false
		}
		b = b[n:]
	}
	return true
}

// lastVarints is VarintPair(b, 1, 2) by protowire, for a valid message.
func lastVarints(b []byte) (v1, v2 uint64, has1, has2 bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		b = b[n:]
		if typ == protowire.VarintType && (num == 1 || num == 2) {
			v, n := protowire.ConsumeVarint(b)
			b = b[n:]
			if num == 1 {
				v1, has1 = v, true
			} else {
				v2, has2 = v, true
			}
			continue
		}
		b = b[protowire.ConsumeFieldValue(num, typ, b):]
	}
	return v1, v2, has1, has2
}
