package boltstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/rivetkube/rivetkube/internal/store"
)

// bucketPoolActivity holds one record per pool (store.PoolActivity). Like
// db_pages it was added without a schema version: Open creates it.
var bucketPoolActivity = []byte("pool_activity")

// poolActivityRecordVersion is the first byte of a pool activity record.
const poolActivityRecordVersion = 1

// poolActivity is the stored form: names and the demand stamp (0: never).
type poolActivity struct {
	names    []string
	demandAt int64
}

func (a poolActivity) marshal() []byte {
	b := []byte{poolActivityRecordVersion}
	b = binary.AppendUvarint(b, uint64(len(a.names)))
	for _, n := range a.names {
		b = appendString(b, n)
	}
	return binary.AppendVarint(b, a.demandAt)
}

func unmarshalPoolActivity(b []byte) (poolActivity, error) {
	d := &decoder{b: b}
	if v := d.byte(); v != poolActivityRecordVersion {
		return poolActivity{}, fmt.Errorf("pool activity record version %d: %w", v, errCorrupt)
	}
	var a poolActivity
	n := d.uvarint()
	if n > uint64(len(d.b)) { // each name takes at least one byte
		d.err = errCorrupt
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		a.names = append(a.names, d.string())
	}
	a.demandAt = d.varint()
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	if d.err != nil {
		return poolActivity{}, fmt.Errorf("pool activity record: %w", d.err)
	}
	return a, nil
}

// updatePoolActivity reads pool's record (zero when none), applies fn and
// writes it back, in one transaction.
func (s *Store) updatePoolActivity(ctx context.Context, pool string, fn func(a *poolActivity)) error {
	return s.update(ctx, func(tx Tx) error {
		b := tx.Bucket(bucketPoolActivity)
		var a poolActivity
		if v := b.Get([]byte(pool)); v != nil {
			var err error
			if a, err = unmarshalPoolActivity(v); err != nil {
				return err
			}
		}
		fn(&a)
		return b.Put([]byte(pool), a.marshal())
	})
}

// NotePoolDemand stamps the pool's demand with the store's clock.
func (s *Store) NotePoolDemand(ctx context.Context, pool string) error {
	if err := store.ValidatePoolName("note pool demand", pool); err != nil {
		return err
	}
	if err := s.updatePoolActivity(ctx, pool, func(a *poolActivity) { a.demandAt = s.stamp() }); err != nil {
		return fmt.Errorf("note pool demand %s: %w", pool, err)
	}
	return nil
}

// SetPoolNames replaces the pool's remembered actor names.
func (s *Store) SetPoolNames(ctx context.Context, pool string, names []string) error {
	names, err := store.NormalizePoolNames(pool, names)
	if err != nil {
		return err
	}
	if err := s.updatePoolActivity(ctx, pool, func(a *poolActivity) { a.names = names }); err != nil {
		return fmt.Errorf("set pool names %s: %w", pool, err)
	}
	return nil
}

// ListPoolActivity lists every pool's record, in key (pool) order.
func (s *Store) ListPoolActivity(ctx context.Context) ([]store.PoolActivity, error) {
	var out []store.PoolActivity
	err := s.view(ctx, func(tx Tx) error {
		now := s.stamp()
		return tx.Bucket(bucketPoolActivity).ForEach(func(k, v []byte) error {
			a, err := unmarshalPoolActivity(v)
			if err != nil {
				return fmt.Errorf("pool %s: %w", k, err)
			}
			pa := store.PoolActivity{Pool: string(k), Names: a.names}
			if a.demandAt != 0 {
				pa.DemandAt = fromNanos(a.demandAt)
				pa.SinceDemand = time.Duration(max(now-a.demandAt, 0))
			}
			out = append(out, pa)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list pool activity: %w", err)
	}
	return out, nil
}
