package store

import (
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// prefixToken keys issued tokens: k/<token id> -> gpuq.v1.TokenInfo.
var prefixToken = []byte("k/")

// PutToken stores (or replaces, on revocation) an issued token's record,
// durably before it returns. The token itself is never stored.
func (s *Store) PutToken(t *gpuqv1.TokenInfo) error {
	return s.Update(func(tx *Tx) error {
		return tx.putProto(append(append([]byte{}, prefixToken...), t.Id...), t)
	})
}

// Tokens returns every issued token's record.
func (s *Store) Tokens() ([]*gpuqv1.TokenInfo, error) {
	var out []*gpuqv1.TokenInfo
	err := s.db.View(func(txn *badger.Txn) error {
		return scan(txn, prefixToken, func(k, v []byte) error {
			t := &gpuqv1.TokenInfo{}
			if err := proto.Unmarshal(v, t); err != nil {
				return fmt.Errorf("decode %s: %w", k, err)
			}
			out = append(out, t)
			return nil
		})
	})
	return out, err
}
