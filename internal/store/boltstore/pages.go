package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/rivetkube/rivetkube/internal/store"
)

// bucketPages holds the SQL database pages of actors: id → nested bucket:
// big-endian page number → page. The nested bucket exists exactly while
// the actor has pages, so destroy drops it in one step.
var bucketPages = []byte("db_pages")

func pageKey(no uint32) []byte { return binary.BigEndian.AppendUint32(nil, no) }

// applyDBWrite applies a checked write's Write.DB.
func applyDBWrite(tx Tx, id []byte, d *store.DBWrite) error {
	if d == nil {
		return nil
	}
	root := tx.Bucket(bucketPages)
	if d.Truncate && d.TruncateTo < ^uint32(0) {
		if b := root.Bucket(id); b != nil {
			var drop [][]byte
			c := b.Cursor()
			for k, _ := c.Seek(pageKey(d.TruncateTo + 1)); k != nil; k, _ = c.Next() {
				drop = append(drop, bytes.Clone(k))
			}
			for _, k := range drop {
				if err := b.Delete(k); err != nil {
					return fmt.Errorf("truncate db pages: %w", err)
				}
			}
		}
	}
	if len(d.Pages) == 0 {
		return dropEmptyPages(root, id)
	}
	b, err := root.CreateBucketIfNotExists(id)
	if err != nil {
		return err
	}
	for _, p := range d.Pages {
		if err := b.Put(pageKey(p.No), bytes.Clone(p.Data)); err != nil {
			return fmt.Errorf("put db page %d: %w", p.No, err)
		}
	}
	return nil
}

// dropEmptyPages drops the actor's page bucket when it holds no page.
func dropEmptyPages(root Bucket, id []byte) error {
	b := root.Bucket(id)
	if b == nil {
		return nil
	}
	if k, _ := b.Cursor().First(); k != nil {
		return nil
	}
	return root.DeleteBucket(id)
}

// dropActorPages deletes every SQL database page of the actor.
func dropActorPages(tx Tx, id string) error {
	err := tx.Bucket(bucketPages).DeleteBucket([]byte(id))
	if err != nil && !errors.Is(err, ErrBucketNotFound) {
		return fmt.Errorf("delete db pages: %w", err)
	}
	return nil
}

// ReadDBPages reads stored pages of an actor's SQL database.
func (s *Store) ReadDBPages(ctx context.Context, id string, from, to uint32) ([]store.DBPage, uint32, error) {
	to, err := store.ValidatePageRange(id, from, to)
	if err != nil {
		return nil, 0, err
	}
	var (
		out   []store.DBPage
		count uint32
	)
	err = s.view(ctx, func(tx Tx) error {
		if tx.Bucket(bucketActors).Get([]byte(id)) == nil {
			return fmt.Errorf("actor %s: %w", id, store.ErrNotFound)
		}
		b := tx.Bucket(bucketPages).Bucket([]byte(id))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		if k, _ := c.Last(); k != nil {
			count = binary.BigEndian.Uint32(k)
		}
		for k, v := c.Seek(pageKey(from)); k != nil; k, v = c.Next() {
			no := binary.BigEndian.Uint32(k)
			if no >= to {
				break
			}
			out = append(out, store.DBPage{No: no, Data: bytes.Clone(v)})
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read db pages: %w", err)
	}
	return out, count, nil
}
