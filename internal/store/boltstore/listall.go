package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/rivetkube/rivetkube/internal/store"
)

// listAllNames lists the actors of every name of a namespace by walking
// the list index under the namespace's prefix: grouped by name (in the
// index's order: the name's length, then its bytes), each name's actors in
// (CreatedAt, ID) order. The cursor is the index key after the namespace
// prefix, tagged so that a cursor of a listing by name is refused.
func (s *Store) listAllNames(ctx context.Context, opts store.ListOptions) ([]store.Actor, string, error) {
	if opts.HasKey {
		return nil, "", fmt.Errorf("list actors: a key filter needs a name: %w", store.ErrInvalid)
	}
	var after []byte
	if opts.Cursor != "" {
		b, err := decodeCursor(opts.Cursor)
		if err != nil || b[0] != allCursorTag {
			return nil, "", fmt.Errorf("list actors: bad list cursor: %w", store.ErrInvalid)
		}
		after = b[1:]
	}
	limit := store.ListLimit(opts.Limit)
	var (
		out  []store.Actor
		next string
	)
	err := s.view(ctx, func(tx Tx) error {
		prefix := appendString(nil, opts.Namespace)
		c := tx.Bucket(bucketListIdx).Cursor()
		seek := append(bytes.Clone(prefix), after...)
		var last []byte
		for k, v := c.Seek(seek); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			rest := k[len(prefix):]
			if after != nil && bytes.Compare(rest, after) <= 0 {
				continue
			}
			if len(v) < 1 || (v[0] == 1 && !opts.IncludeDestroyed) {
				continue
			}
			if len(out) == limit {
				next = encodeCursor(append([]byte{allCursorTag}, last...))
				return nil
			}
			id, err := listKeyID(rest)
			if err != nil {
				return err
			}
			r, err := getRecord(tx, id)
			if err != nil {
				return err
			}
			a, err := r.actor()
			if err != nil {
				return err
			}
			out = append(out, a)
			last = bytes.Clone(rest)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("list actors: %w", err)
	}
	return out, next, nil
}

// allCursorTag starts a cursor of the listing across names. A cursor of a
// listing by name starts with the high byte of its order-preserving
// timestamp, which is 0x00 only for times before the year 1700.
const allCursorTag = 0x00

// listKeyID is the actor id at the end of an idx_list key after its
// namespace: name (length-prefixed), 8 bytes of created, id.
func listKeyID(rest []byte) (string, error) {
	n, w := binary.Uvarint(rest)
	if w <= 0 || uint64(len(rest)-w) < n+8 {
		return "", fmt.Errorf("corrupt list index key: %w", store.ErrInvalid)
	}
	return string(rest[uint64(w)+n+8:]), nil
}
