package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/rivetkube/rivetkube/internal/store"
)

// ---- runner→actors index ----

// runnerPrefix is the idx_runner prefix of every actor placed on runnerID.
func runnerPrefix(runnerID string) []byte {
	return appendString(make([]byte, 0, binary.MaxVarintLen64+len(runnerID)+32), runnerID)
}

func runnerIdxKey(runnerID, actorID string) []byte {
	return append(runnerPrefix(runnerID), actorID...)
}

// setPlacement moves r to runnerID ("" = not placed) in r and in idx_runner.
// The caller writes r back.
func setPlacement(tx Tx, r *record, runnerID string) error {
	if r.RunnerID == runnerID {
		return nil
	}
	idx := tx.Bucket(bucketRunnerIdx)
	if r.RunnerID != "" {
		if err := idx.Delete(runnerIdxKey(r.RunnerID, r.ID)); err != nil {
			return fmt.Errorf("unindex placement of %s: %w", r.ID, err)
		}
	}
	if runnerID != "" {
		if err := idx.Put(runnerIdxKey(runnerID, r.ID), nil); err != nil {
			return fmt.Errorf("index placement of %s: %w", r.ID, err)
		}
	}
	r.RunnerID = runnerID
	return nil
}

// buildRunnerIndex fills idx_runner from the actors bucket (schema 1 → 2).
func buildRunnerIndex(tx Tx) error {
	idx := tx.Bucket(bucketRunnerIdx)
	return tx.Bucket(bucketActors).ForEach(func(k, v []byte) error {
		r, err := unmarshalRecord(v)
		if err != nil {
			return fmt.Errorf("actor %s: %w", k, err)
		}
		if r.RunnerID == "" {
			return nil
		}
		return idx.Put(runnerIdxKey(r.RunnerID, r.ID), nil)
	})
}

// placedOn returns the IDs of up to limit actors placed on runnerID, in ID
// order (limit < 0: all).
func placedOn(tx Tx, runnerID string, limit int) []string {
	prefix := runnerPrefix(runnerID)
	var out []string
	c := tx.Bucket(bucketRunnerIdx).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && (limit < 0 || len(out) < limit); k, _ = c.Next() {
		out = append(out, string(k[len(prefix):]))
	}
	return out
}

// countOn counts the actors placed on runnerID.
func countOn(tx Tx, runnerID string) int {
	prefix := runnerPrefix(runnerID)
	n := 0
	c := tx.Bucket(bucketRunnerIdx).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		n++
	}
	return n
}

// ---- records ----

const registryRecordVersion = 1

// runnerRecord is the stored form of store.Runner (without the derived
// SinceHeartbeat and Actors).
type runnerRecord struct {
	ID          string
	Pool        string
	Version     uint64
	Address     string
	Names       []string
	Draining    bool
	StartedAt   int64
	HeartbeatAt int64
}

func (r *runnerRecord) marshal() []byte {
	n := 48 + len(r.ID) + len(r.Pool) + len(r.Address)
	for _, name := range r.Names {
		n += binary.MaxVarintLen64 + len(name)
	}
	b := make([]byte, 0, n)
	b = append(b, registryRecordVersion)
	b = appendString(b, r.ID)
	b = appendString(b, r.Pool)
	b = binary.AppendUvarint(b, r.Version)
	b = appendString(b, r.Address)
	b = binary.AppendUvarint(b, uint64(len(r.Names)))
	for _, n := range r.Names {
		b = appendString(b, n)
	}
	b = append(b, boolByte(r.Draining))
	b = binary.AppendVarint(b, r.StartedAt)
	return binary.AppendVarint(b, r.HeartbeatAt)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func unmarshalRunner(b []byte) (*runnerRecord, error) {
	d := &decoder{b: b}
	if v := d.byte(); v != registryRecordVersion {
		return nil, fmt.Errorf("runner record version %d: %w", v, errCorrupt)
	}
	r := &runnerRecord{}
	r.ID = d.string()
	r.Pool = d.string()
	r.Version = d.uvarint()
	r.Address = d.string()
	names := d.uvarint()
	if names > uint64(len(d.b)) { // each name takes at least one byte
		d.err = errCorrupt
	}
	for i := uint64(0); i < names && d.err == nil; i++ {
		r.Names = append(r.Names, d.string())
	}
	r.Draining = d.byte() == 1
	r.StartedAt = d.varint()
	r.HeartbeatAt = d.varint()
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	if d.err != nil {
		return nil, fmt.Errorf("runner record: %w", d.err)
	}
	return r, nil
}

func getRunner(tx Tx, id string) (*runnerRecord, error) {
	v := tx.Bucket(bucketRunners).Get([]byte(id))
	if v == nil {
		return nil, store.RunnerNotFound(id)
	}
	r, err := unmarshalRunner(v)
	if err != nil {
		return nil, fmt.Errorf("runner %s: %w", id, err)
	}
	return r, nil
}

func putRunner(tx Tx, r *runnerRecord) error {
	if err := tx.Bucket(bucketRunners).Put([]byte(r.ID), r.marshal()); err != nil {
		return fmt.Errorf("put runner %s: %w", r.ID, err)
	}
	return nil
}

// runner returns the public form of r, measured against now.
func (r *runnerRecord) runner(tx Tx, now int64) store.Runner {
	return store.Runner{
		ID:             r.ID,
		Pool:           r.Pool,
		Version:        r.Version,
		Address:        r.Address,
		Names:          r.Names,
		Draining:       r.Draining,
		StartedAt:      fromNanos(r.StartedAt),
		HeartbeatAt:    fromNanos(r.HeartbeatAt),
		SinceHeartbeat: time.Duration(max(now-r.HeartbeatAt, 0)),
		Actors:         countOn(tx, r.ID),
	}
}

func marshalPoolConfig(c store.PoolConfig, updated int64) []byte {
	b := make([]byte, 0, 32+len(c.Pool)+binary.MaxVarintLen64*(len(c.Ready)+len(c.Draining)))
	b = append(b, registryRecordVersion)
	b = appendString(b, c.Pool)
	for _, vs := range [][]uint64{c.Ready, c.Draining} {
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = binary.AppendUvarint(b, v)
		}
	}
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(c.DrainRate))
	b = binary.AppendVarint(b, updated)
	if r := c.Ramp; r != nil {
		// Optional tail (records written before ramps end here).
		b = binary.AppendUvarint(b, r.Version)
		b = append(b, byte(r.NewPercent), byte(r.MovePercent))
	}
	return b
}

func unmarshalPoolConfig(b []byte) (store.PoolConfig, error) {
	d := &decoder{b: b}
	if v := d.byte(); v != registryRecordVersion {
		return store.PoolConfig{}, fmt.Errorf("pool config record version %d: %w", v, errCorrupt)
	}
	c := store.PoolConfig{Pool: d.string()}
	for _, dst := range []*[]uint64{&c.Ready, &c.Draining} {
		n := d.uvarint()
		if n > uint64(len(d.b)) { // each version takes at least one byte
			d.err = errCorrupt
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			*dst = append(*dst, d.uvarint())
		}
	}
	var bits uint64
	for range 8 {
		bits = bits<<8 | uint64(d.byte())
	}
	c.DrainRate = math.Float64frombits(bits)
	c.UpdatedAt = fromNanos(d.varint())
	if d.err == nil && len(d.b) != 0 {
		c.Ramp = &store.Ramp{Version: d.uvarint()}
		c.Ramp.NewPercent, c.Ramp.MovePercent = int32(d.byte()), int32(d.byte())
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	if d.err != nil {
		return store.PoolConfig{}, fmt.Errorf("pool config record: %w", d.err)
	}
	return c, nil
}

func marshalLease(holder string, expires int64) []byte {
	b := make([]byte, 0, 2*binary.MaxVarintLen64+1+len(holder))
	b = append(b, registryRecordVersion)
	b = appendString(b, holder)
	return binary.AppendVarint(b, expires)
}

func unmarshalLease(b []byte) (holder string, expires int64, err error) {
	d := &decoder{b: b}
	if v := d.byte(); v != registryRecordVersion {
		return "", 0, fmt.Errorf("lease record version %d: %w", v, errCorrupt)
	}
	holder = d.string()
	expires = d.varint()
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	if d.err != nil {
		return "", 0, fmt.Errorf("lease record: %w", d.err)
	}
	return holder, expires, nil
}

// ---- runner registry ----

// UpsertRunner registers the runner or refreshes its row; the heartbeat is
// the store's clock, StartedAt is kept on refresh and Draining is sticky
// (see store.Store).
func (s *Store) UpsertRunner(ctx context.Context, r store.Runner) error {
	if err := store.ValidateRunner(r); err != nil {
		return err
	}
	err := s.update(ctx, func(tx Tx) error {
		now := s.stamp()
		rec := &runnerRecord{ID: r.ID, StartedAt: now}
		if old, err := getRunner(tx, r.ID); err == nil {
			rec.StartedAt, rec.Draining = old.StartedAt, old.Draining
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		rec.Pool, rec.Version, rec.Address = r.Pool, r.Version, r.Address
		if len(r.Names) > 0 {
			rec.Names = slices.Clone(r.Names)
		}
		rec.Draining = rec.Draining || r.Draining
		rec.HeartbeatAt = now
		return putRunner(tx, rec)
	})
	if err != nil {
		return fmt.Errorf("upsert runner %s: %w", r.ID, err)
	}
	return nil
}

// updateRunner applies fn to the stored runner id.
func (s *Store) updateRunner(ctx context.Context, what, id string, fn func(r *runnerRecord)) error {
	err := s.update(ctx, func(tx Tx) error {
		r, err := getRunner(tx, id)
		if err != nil {
			return err
		}
		fn(r)
		return putRunner(tx, r)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// HeartbeatRunner stamps the runner's heartbeat with the store's clock.
func (s *Store) HeartbeatRunner(ctx context.Context, id string) error {
	return s.updateRunner(ctx, "heartbeat runner", id, func(r *runnerRecord) { r.HeartbeatAt = s.stamp() })
}

// SetRunnerDraining sets the runner's draining flag.
func (s *Store) SetRunnerDraining(ctx context.Context, id string, draining bool) error {
	return s.updateRunner(ctx, "set runner draining", id, func(r *runnerRecord) { r.Draining = draining })
}

// RemoveRunner deletes the runner and clears the placement of its actors,
// walking its idx_runner entries only.
func (s *Store) RemoveRunner(ctx context.Context, id string) error {
	err := s.update(ctx, func(tx Tx) error {
		if err := tx.Bucket(bucketRunners).Delete([]byte(id)); err != nil {
			return fmt.Errorf("delete runner: %w", err)
		}
		if id == "" {
			return nil
		}
		now := s.stamp()
		for _, actorID := range placedOn(tx, id, -1) {
			r, err := getRecord(tx, actorID)
			if err != nil {
				return err
			}
			if err := setPlacement(tx, r, ""); err != nil {
				return err
			}
			r.SleepAt = now
			if err := putRecord(tx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove runner %s: %w", id, err)
	}
	return nil
}

// GetRunner returns a runner with SinceHeartbeat and its actor count.
func (s *Store) GetRunner(ctx context.Context, id string) (store.Runner, error) {
	var out store.Runner
	err := s.view(ctx, func(tx Tx) error {
		r, err := getRunner(tx, id)
		if err != nil {
			return err
		}
		out = r.runner(tx, s.stamp())
		return nil
	})
	if err != nil {
		return store.Runner{}, fmt.Errorf("get runner: %w", err)
	}
	return out, nil
}

// ListRunners lists the runners of pool ("" = all) in ID order.
func (s *Store) ListRunners(ctx context.Context, pool string) ([]store.Runner, error) {
	var out []store.Runner
	err := s.view(ctx, func(tx Tx) error {
		now := s.stamp()
		return tx.Bucket(bucketRunners).ForEach(func(k, v []byte) error {
			r, err := unmarshalRunner(v)
			if err != nil {
				return fmt.Errorf("runner %s: %w", k, err)
			}
			if pool == "" || r.Pool == pool {
				out = append(out, r.runner(tx, now))
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list runners: %w", err)
	}
	return out, nil
}

// ---- placement ----

// Place moves the actor to runnerID under generation expectGen+1 if its
// generation is still expectGen. bbolt serializes write transactions, so
// exactly one of many concurrent callers with the same expectGen wins.
func (s *Store) Place(ctx context.Context, id, runnerID string, expectGen uint64) (store.Actor, error) {
	if err := store.ValidatePlace(id, runnerID); err != nil {
		return store.Actor{}, err
	}
	var r *record
	err := s.update(ctx, func(tx Tx) error {
		var err error
		if r, err = getRecord(tx, id); err != nil {
			return err
		}
		if r.DestroyedAt != 0 {
			return fmt.Errorf("actor %s: %w", id, store.ErrDestroyed)
		}
		if r.Generation != expectGen {
			return fmt.Errorf("actor %s: expected generation %d, current %d: %w", id, expectGen, r.Generation, store.ErrFenced)
		}
		return s.activate(tx, r, runnerID)
	})
	if err != nil {
		return store.Actor{}, fmt.Errorf("place: %w", err)
	}
	return r.actor()
}

// ActorsOnRunner lists actors placed on runnerID in ID order from
// idx_runner.
func (s *Store) ActorsOnRunner(ctx context.Context, runnerID string, limit int) ([]store.Actor, error) {
	var out []store.Actor
	err := s.view(ctx, func(tx Tx) error {
		if runnerID == "" {
			return nil
		}
		for _, id := range placedOn(tx, runnerID, store.ListLimit(limit)) {
			r, err := getRecord(tx, id)
			if err != nil {
				return err
			}
			a, err := r.actor()
			if err != nil {
				return err
			}
			out = append(out, a)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("actors on runner %s: %w", runnerID, err)
	}
	return out, nil
}

// ---- pool configs ----

// SetPoolConfig stores the pool's routing, stamped with the store's clock.
func (s *Store) SetPoolConfig(ctx context.Context, c store.PoolConfig) error {
	if err := store.ValidatePoolConfig(c); err != nil {
		return err
	}
	err := s.update(ctx, func(tx Tx) error {
		return tx.Bucket(bucketPools).Put([]byte(c.Pool), marshalPoolConfig(c, s.stamp()))
	})
	if err != nil {
		return fmt.Errorf("set pool config %s: %w", c.Pool, err)
	}
	return nil
}

// GetPoolConfig returns the pool's routing, or a zero one with Pool set.
func (s *Store) GetPoolConfig(ctx context.Context, pool string) (store.PoolConfig, error) {
	c := store.PoolConfig{Pool: pool}
	err := s.view(ctx, func(tx Tx) error {
		v := tx.Bucket(bucketPools).Get([]byte(pool))
		if v == nil {
			return nil
		}
		var err error
		c, err = unmarshalPoolConfig(v)
		return err
	})
	if err != nil {
		return store.PoolConfig{}, fmt.Errorf("get pool config %s: %w", pool, err)
	}
	return c, nil
}

// ---- leases ----

// TryLease takes the lease when it is free, expired by the store's clock,
// or already holder's; bbolt's single writer makes the check-and-set atomic.
func (s *Store) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if err := store.ValidateLease(name, holder); err != nil {
		return false, err
	}
	if err := store.ValidateLeaseTTL(name, ttl); err != nil {
		return false, err
	}
	var held bool
	err := s.update(ctx, func(tx Tx) error {
		b := tx.Bucket(bucketLeases)
		now := s.stamp()
		if v := b.Get([]byte(name)); v != nil {
			cur, expires, err := unmarshalLease(v)
			if err != nil {
				return err
			}
			if cur != holder && expires > now {
				return nil
			}
		}
		held = true
		return b.Put([]byte(name), marshalLease(holder, now+int64(ttl)))
	})
	if err != nil {
		return false, fmt.Errorf("try lease %s: %w", name, err)
	}
	return held, nil
}

// ReleaseLease deletes the lease if holder holds it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if err := store.ValidateLease(name, holder); err != nil {
		return err
	}
	err := s.update(ctx, func(tx Tx) error {
		b := tx.Bucket(bucketLeases)
		v := b.Get([]byte(name))
		if v == nil {
			return nil
		}
		cur, _, err := unmarshalLease(v)
		if err != nil || cur != holder {
			return err
		}
		return b.Delete([]byte(name))
	})
	if err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}
