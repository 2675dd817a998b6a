package boltstore

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/rivetkube/rivetkube/internal/store"
)

// fakeClock is an injectable store clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestClock drives heartbeats and leases with an injected clock: expiry is
// exact to the nanosecond and SinceHeartbeat is the store's clock minus
// the heartbeat, whatever the wall clock does.
func TestClock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	s.now = clk.now

	if err := s.UpsertRunner(ctx, store.Runner{ID: "r", Pool: "p", Version: 1}); err != nil {
		t.Fatal(err)
	}
	clk.advance(3 * time.Second)
	r, err := s.GetRunner(ctx, "r")
	if err != nil || r.SinceHeartbeat != 3*time.Second || !r.StartedAt.Equal(time.Unix(1_700_000_000, 0)) {
		t.Fatalf("GetRunner after 3s: %+v, %v", r, err)
	}
	if err := s.HeartbeatRunner(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	clk.advance(time.Second)
	if rs, err := s.ListRunners(ctx, "p"); err != nil || len(rs) != 1 || rs[0].SinceHeartbeat != time.Second {
		t.Fatalf("ListRunners after heartbeat + 1s: %+v, %v", rs, err)
	}
	// A clock that steps back never makes SinceHeartbeat negative.
	clk.advance(-time.Minute)
	if r, err := s.GetRunner(ctx, "r"); err != nil || r.SinceHeartbeat != 0 {
		t.Fatalf("GetRunner with the clock stepped back: %+v, %v", r, err)
	}
	clk.advance(time.Minute)

	const ttl = 10 * time.Second
	take := func(holder string) bool {
		t.Helper()
		ok, err := s.TryLease(ctx, "leader", holder, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !take("A") {
		t.Fatal("A could not take a free lease")
	}
	clk.advance(ttl - time.Nanosecond)
	if take("B") {
		t.Fatal("B took the lease before its ttl lapsed")
	}
	clk.advance(time.Nanosecond)
	if !take("B") {
		t.Fatal("B could not take the lease once its ttl lapsed")
	}
	clk.advance(ttl / 2)
	if !take("B") { // renew
		t.Fatal("B could not renew")
	}
	clk.advance(ttl - time.Nanosecond)
	if take("A") {
		t.Fatal("A took the lease B renewed")
	}
}

// TestUpgradeSchema1 turns a file back into the version 1 layout (no
// registry buckets) and checks that Open builds the runner index from the
// placements already stored.
func TestUpgradeSchema1(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"b", "a", "c", "asleep"} {
		if _, err := s.CreateActor(ctx, store.ActorSpec{ID: id, Namespace: "ns", Name: "n", Key: []string{id}}); err != nil {
			t.Fatal(err)
		}
	}
	for id, runner := range map[string]string{"a": "r1", "b": "r1", "c": "r2", "asleep": "r2"} {
		if _, err := s.Activate(ctx, id, runner, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Deactivate(ctx, "asleep", 1); err != nil {
		t.Fatal(err)
	}
	err = s.boltDB().Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketRunners, bucketRunnerIdx, bucketPools, bucketLeases} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(metaSchemaKey, []byte{1})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("open a schema 1 file: %v", err)
	}
	defer s.Close()
	for runner, want := range map[string][]string{"r1": {"a", "b"}, "r2": {"c"}} {
		as, err := s.ActorsOnRunner(ctx, runner, 0)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]string, len(as))
		for i, a := range as {
			got[i] = a.ID
		}
		if !slices.Equal(got, want) {
			t.Fatalf("ActorsOnRunner(%s) after upgrade = %v, want %v", runner, got, want)
		}
	}
	if err := s.UpsertRunner(ctx, store.Runner{ID: "r1", Pool: "p", Version: 1}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.GetRunner(ctx, "r1"); err != nil || r.Actors != 2 {
		t.Fatalf("GetRunner(r1) after upgrade: %+v, %v", r, err)
	}
	var v []byte
	_ = s.boltDB().View(func(tx *bolt.Tx) error { v = slices.Clone(tx.Bucket(bucketMeta).Get(metaSchemaKey)); return nil })
	if !slices.Equal(v, []byte{schemaVersion}) {
		t.Fatalf("schema version after upgrade = %v, want %d", v, schemaVersion)
	}
}

// TestRegistryReopen checks that runners, pool configs and leases survive
// closing and reopening the file.
func TestRegistryReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "reg.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertRunner(ctx, store.Runner{ID: "r", Pool: "p", Version: 3, Address: "h:1", Draining: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPoolConfig(ctx, store.PoolConfig{Pool: "p", Ready: []uint64{3}, Draining: []uint64{2}, DrainRate: 0.5}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.TryLease(ctx, "l", "A", time.Hour); err != nil || !ok {
		t.Fatalf("TryLease: %v %v", ok, err)
	}
	before, err := s.GetRunner(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.GetRunner(ctx, "r")
	if err != nil || r.Version != 3 || r.Address != "h:1" || !r.Draining || !r.StartedAt.Equal(before.StartedAt) ||
		!r.HeartbeatAt.Equal(before.HeartbeatAt) {
		t.Fatalf("runner after reopen: %+v, %v (before %+v)", r, err, before)
	}
	c, err := s.GetPoolConfig(ctx, "p")
	if err != nil || !slices.Equal(c.Ready, []uint64{3}) || !slices.Equal(c.Draining, []uint64{2}) || c.DrainRate != 0.5 {
		t.Fatalf("pool config after reopen: %+v, %v", c, err)
	}
	if ok, err := s.TryLease(ctx, "l", "B", time.Hour); err != nil || ok {
		t.Fatalf("B took A's lease after reopen: %v %v", ok, err)
	}
}
