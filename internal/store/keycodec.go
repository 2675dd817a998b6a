package store

import (
	"encoding/binary"
	"fmt"
)

// EncodeKey returns the canonical byte encoding of an actor key: the number
// of parts, then each part's length and bytes, all lengths as uvarints. The
// encoding is injective, so ["a","b"], ["a/b"], ["a,b"], [""] and [] all
// encode differently, and a nil key encodes like an empty one. Stores use it
// as the key column of their (namespace, name, key) uniqueness index.
func EncodeKey(key []string) []byte {
	n := binary.MaxVarintLen64
	for _, p := range key {
		n += binary.MaxVarintLen64 + len(p)
	}
	b := make([]byte, 0, n)
	b = binary.AppendUvarint(b, uint64(len(key)))
	for _, p := range key {
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
	}
	return b
}

// DecodeKey is the inverse of EncodeKey. It never returns a nil slice for a
// well-formed input: the empty key decodes to []string{}.
func DecodeKey(b []byte) ([]string, error) {
	n, sz := binary.Uvarint(b)
	if sz <= 0 || n > uint64(len(b)) {
		return nil, fmt.Errorf("decode actor key: bad part count")
	}
	b = b[sz:]
	key := make([]string, 0, n)
	for i := uint64(0); i < n; i++ {
		l, sz := binary.Uvarint(b)
		if sz <= 0 || l > uint64(len(b)-sz) {
			return nil, fmt.Errorf("decode actor key: bad length of part %d", i)
		}
		key = append(key, string(b[sz:sz+int(l)]))
		b = b[sz+int(l):]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("decode actor key: %d trailing bytes", len(b))
	}
	return key, nil
}
