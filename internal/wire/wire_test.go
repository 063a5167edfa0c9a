package wire

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// The readers agree with protowire's on every input, short and truncated
// ones included.
func FuzzConsume(f *testing.F) {
	for _, seed := range [][]byte{nil, {0x08}, {0x08, 0x96, 0x01}, {0x80}, {0xfa, 0x01, 0x02, 'h', 'i'}, {0x0a, 0x05, 'a'}, {0x7f}} {
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
		b1, k1 := ConsumeBytes(b)
		b2, k2 := protowire.ConsumeBytes(b)
		if string(b1) != string(b2) || k1 != k2 {
			t.Errorf("ConsumeBytes(%x) = %x %v, protowire %x %v", b, b1, k1, b2, k2)
		}
	})
}
