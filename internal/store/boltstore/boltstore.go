package boltstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/rivetkube/rivetkube/internal/store"
)

// Bucket names.
var (
	bucketMeta    = []byte("meta")
	bucketActors  = []byte("actors")
	bucketKeyIdx  = []byte("idx_key")
	bucketListIdx = []byte("idx_list")
	bucketState   = []byte("state")
	bucketKV      = []byte("kv")
	// Added by schema version 2.
	bucketRunners   = []byte("runners")
	bucketRunnerIdx = []byte("idx_runner")
	bucketPools     = []byte("pools")
	bucketLeases    = []byte("leases")
	// Added by schema version 3.
	bucketQueues    = []byte("queues")
	bucketQueueSeq  = []byte("queue_seq")
	bucketSchedules = []byte("schedules")
	bucketDueIdx    = []byte("idx_due")
	bucketWorkflows = []byte("workflows")
)

// allBuckets are the top-level buckets of the current schema.
var allBuckets = [][]byte{bucketMeta, bucketActors, bucketKeyIdx, bucketListIdx, bucketState, bucketKV,
	bucketRunners, bucketRunnerIdx, bucketPools, bucketLeases,
	bucketQueues, bucketQueueSeq, bucketSchedules, bucketDueIdx, bucketWorkflows, bucketPages, bucketPoolActivity}

var metaSchemaKey = []byte("schema")

// schemaVersion is the layout version written to the meta bucket. Version 2
// added the runner registry, the runner→actors index, pool configs and
// leases; version 3 added queues, schedules (with the due-time index) and
// workflow steps. Open upgrades older files in place: the new buckets start
// empty, and a version 1 file gets its runner index built.
const schemaVersion = 3

// DefaultLockTimeout is how long Open waits for another process to release
// the database file when Options.Timeout is zero.
const DefaultLockTimeout = 5 * time.Second

// Options configures Open.
type Options struct {
	// Timeout bounds the wait for the file lock another process holds.
	// Zero means DefaultLockTimeout; negative waits forever.
	Timeout time.Duration
	// FileMode is the mode of a newly created file; zero means 0o600.
	FileMode os.FileMode
}

// Store is the bbolt-backed store.Store. It is safe for concurrent use.
type Store struct {
	db  Engine
	now func() time.Time
	// gw runs directory writes and commits as group transactions.
	gw groupWriter

	mu     sync.RWMutex // held shared by operations, exclusively by Close
	closed bool
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path. Only one
// process may hold it open at a time.
func Open(path string, opts Options) (*Store, error) {
	timeout := opts.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultLockTimeout
	case timeout < 0:
		timeout = 0
	}
	mode := opts.FileMode
	if mode == 0 {
		mode = 0o600
	}
	db, err := bolt.Open(path, mode, &bolt.Options{
		Timeout: timeout,
		NoSync:  false, // durability: every commit is fsynced
		// The freelist is rebuilt by a scan on open instead of written on
		// every commit; this saves I/O per commit without losing data.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("open bolt store %s: %w", path, err)
	}
	s, err := New(boltEngine{db})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open bolt store %s: %w", path, err)
	}
	return s, nil
}

// New returns the store on an open engine, creating or upgrading its
// layout; the store owns the engine from then on (Close closes it). Open
// is New on bbolt.
func New(db Engine) (*Store, error) {
	err := db.Update(func(tx Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get(metaSchemaKey); {
		case v == nil:
			return meta.Put(metaSchemaKey, []byte{schemaVersion})
		case len(v) == 1 && v[0] == 1:
			if err := buildRunnerIndex(tx); err != nil {
				return fmt.Errorf("upgrade schema 1 to %d: %w", schemaVersion, err)
			}
			return meta.Put(metaSchemaKey, []byte{schemaVersion})
		case len(v) == 1 && v[0] == 2:
			// Version 3 only added buckets, created above.
			return meta.Put(metaSchemaKey, []byte{schemaVersion})
		case len(v) != 1 || v[0] != schemaVersion:
			return fmt.Errorf("unsupported schema version %v", v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Store{db: db, now: time.Now, gw: groupWriter{db: db}}, nil
}

// Engine returns the engine the store runs on.
func (s *Store) Engine() Engine { return s.db }

// Path returns the database file path.
func (s *Store) Path() string { return s.db.Path() }

// begin starts an operation: it fails with ErrClosed after Close and with
// the context's error when ctx is done. end must follow a nil return.
func (s *Store) begin(ctx context.Context) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		s.mu.RUnlock()
		return err
	}
	return nil
}

func (s *Store) end() { s.mu.RUnlock() }

func (s *Store) update(ctx context.Context, fn func(tx Tx) error) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.end()
	return s.db.Update(fn)
}

// batch is update for the writes on the request path (create, activate,
// deactivate, Commit): concurrent calls share one transaction and one
// commit (see groupWriter), which is what makes creating many actors at
// once fast, with no added delay for a lone call. fn may run more than
// once (the functions of a failed group run again without the one that
// failed), so it only assigns its results.
func (s *Store) batch(ctx context.Context, fn func(tx Tx) error) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.end()
	return s.gw.do(fn)
}

func (s *Store) view(ctx context.Context, fn func(tx Tx) error) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.end()
	return s.db.View(fn)
}

// Close closes the database file; it waits for running operations. Later
// calls of any method, Close included, return ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	s.closed = true
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close bolt store: %w", err)
	}
	return nil
}

func (s *Store) stamp() int64 { return s.now().UnixNano() }

func getRecord(tx Tx, id string) (*record, error) {
	v := tx.Bucket(bucketActors).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("actor %s: %w", id, store.ErrNotFound)
	}
	r, err := unmarshalRecord(v)
	if err != nil {
		return nil, fmt.Errorf("actor %s: %w", id, err)
	}
	return r, nil
}

func putRecord(tx Tx, r *record) error {
	if err := tx.Bucket(bucketActors).Put([]byte(r.ID), r.marshal()); err != nil {
		return fmt.Errorf("put actor %s: %w", r.ID, err)
	}
	return nil
}

// insert creates the actor of spec; the caller checked the key is free.
func (s *Store) insert(tx Tx, spec store.ActorSpec, encKey []byte) (*record, error) {
	if tx.Bucket(bucketActors).Get([]byte(spec.ID)) != nil {
		return nil, fmt.Errorf("actor id %s: %w", spec.ID, store.ErrExists)
	}
	r := &record{
		ID: spec.ID, Namespace: spec.Namespace, Name: spec.Name, Key: encKey,
		Pool: spec.Pool, CrashPolicy: spec.CrashPolicy, CreatedAt: s.stamp(),
	}
	if spec.Input != nil {
		r.Input = bytes.Clone(spec.Input)
	}
	if err := putRecord(tx, r); err != nil {
		return nil, err
	}
	if spec.RunnerID != "" {
		if err := s.activate(tx, r, spec.RunnerID); err != nil {
			return nil, err
		}
	}
	if err := tx.Bucket(bucketKeyIdx).Put(keyIndexKey(spec.Namespace, spec.Name, encKey), []byte(spec.ID)); err != nil {
		return nil, fmt.Errorf("index actor key: %w", err)
	}
	lk := append(listPrefix(spec.Namespace, spec.Name), listSuffix(r.CreatedAt, r.ID)...)
	if err := tx.Bucket(bucketListIdx).Put(lk, listValue(false, encKey)); err != nil {
		return nil, fmt.Errorf("index actor list: %w", err)
	}
	return r, nil
}

// CreateActor inserts a new actor; ErrExists if (ns,name,key) or the ID is
// taken.
func (s *Store) CreateActor(ctx context.Context, spec store.ActorSpec) (store.Actor, error) {
	if err := store.ValidateSpec(spec); err != nil {
		return store.Actor{}, err
	}
	encKey := store.EncodeKey(spec.Key)
	var r *record
	err := s.batch(ctx, func(tx Tx) error {
		if id := tx.Bucket(bucketKeyIdx).Get(keyIndexKey(spec.Namespace, spec.Name, encKey)); id != nil {
			return fmt.Errorf("actor %s %q: %w", spec.Name, spec.Key, store.ErrExists)
		}
		var err error
		r, err = s.insert(tx, spec, encKey)
		return err
	})
	if err != nil {
		return store.Actor{}, fmt.Errorf("create actor: %w", err)
	}
	return r.actor()
}

// GetOrCreateActor returns the live actor for the spec's key or creates it.
// bbolt serializes write transactions, so exactly one concurrent caller
// creates.
func (s *Store) GetOrCreateActor(ctx context.Context, spec store.ActorSpec) (store.Actor, bool, error) {
	if err := store.ValidateSpec(spec); err != nil {
		return store.Actor{}, false, err
	}
	encKey := store.EncodeKey(spec.Key)
	// Fast path: a read-only lookup, which does not take the writer lock.
	a, err := s.GetActorByKey(ctx, spec.Namespace, spec.Name, spec.Key)
	if err == nil {
		return a, false, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return store.Actor{}, false, err
	}
	var (
		r       *record
		created bool
	)
	err = s.batch(ctx, func(tx Tx) error {
		created = false
		if id := tx.Bucket(bucketKeyIdx).Get(keyIndexKey(spec.Namespace, spec.Name, encKey)); id != nil {
			var err error
			r, err = getRecord(tx, string(id))
			return err
		}
		var err error
		r, err = s.insert(tx, spec, encKey)
		created = err == nil
		return err
	})
	if err != nil {
		return store.Actor{}, false, fmt.Errorf("get or create actor: %w", err)
	}
	a, err = r.actor()
	return a, created, err
}

// GetActor returns an actor by ID, destroyed ones included.
func (s *Store) GetActor(ctx context.Context, id string) (store.Actor, error) {
	var r *record
	err := s.view(ctx, func(tx Tx) error {
		var err error
		r, err = getRecord(tx, id)
		return err
	})
	if err != nil {
		return store.Actor{}, fmt.Errorf("get actor: %w", err)
	}
	return r.actor()
}

// GetActorByKey returns the live actor for (ns, name, key).
func (s *Store) GetActorByKey(ctx context.Context, ns, name string, key []string) (store.Actor, error) {
	var r *record
	err := s.view(ctx, func(tx Tx) error {
		id := tx.Bucket(bucketKeyIdx).Get(keyIndexKey(ns, name, store.EncodeKey(key)))
		if id == nil {
			return fmt.Errorf("actor %s %q: %w", name, key, store.ErrNotFound)
		}
		var err error
		r, err = getRecord(tx, string(id))
		return err
	})
	if err != nil {
		return store.Actor{}, fmt.Errorf("get actor by key: %w", err)
	}
	return r.actor()
}

func encodeCursor(suffix []byte) string { return base64.RawURLEncoding.EncodeToString(suffix) }

func decodeCursor(c string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 9 {
		return nil, fmt.Errorf("bad list cursor: %w", store.ErrInvalid)
	}
	return b, nil
}

// ListActors lists actors of one name in (CreatedAt, ID) order.
func (s *Store) ListActors(ctx context.Context, opts store.ListOptions) ([]store.Actor, string, error) {
	if opts.Name == "" {
		return s.listAllNames(ctx, opts)
	}
	var after []byte
	if opts.Cursor != "" {
		var err error
		if after, err = decodeCursor(opts.Cursor); err != nil {
			return nil, "", fmt.Errorf("list actors: %w", err)
		}
	}
	limit := store.ListLimit(opts.Limit)
	var encKey []byte
	if opts.HasKey {
		encKey = store.EncodeKey(opts.Key)
	}
	var (
		out  []store.Actor
		next string
	)
	err := s.view(ctx, func(tx Tx) error {
		if opts.HasKey && !opts.IncludeDestroyed {
			// At most one live actor has the key: use the key index.
			id := tx.Bucket(bucketKeyIdx).Get(keyIndexKey(opts.Namespace, opts.Name, encKey))
			if id == nil {
				return nil
			}
			r, err := getRecord(tx, string(id))
			if err != nil {
				return err
			}
			if after != nil && bytes.Compare(listSuffix(r.CreatedAt, r.ID), after) <= 0 {
				return nil
			}
			a, err := r.actor()
			out = append(out, a)
			return err
		}
		prefix := listPrefix(opts.Namespace, opts.Name)
		c := tx.Bucket(bucketListIdx).Cursor()
		seek := prefix
		if after != nil {
			seek = append(bytes.Clone(prefix), after...)
		}
		for k, v := c.Seek(seek); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			suffix := k[len(prefix):]
			if after != nil && bytes.Compare(suffix, after) <= 0 {
				continue
			}
			if len(v) < 1 || (v[0] == 1 && !opts.IncludeDestroyed) || (encKey != nil && !bytes.Equal(v[1:], encKey)) {
				continue
			}
			if len(out) == limit {
				next = encodeCursor(listSuffix(out[len(out)-1].CreatedAt.UnixNano(), out[len(out)-1].ID))
				return nil
			}
			r, err := getRecord(tx, string(suffix[8:]))
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
		return nil, "", fmt.Errorf("list actors: %w", err)
	}
	return out, next, nil
}

// DestroyActor marks the actor destroyed, frees its key, drops its state
// and KV and bumps its generation.
func (s *Store) DestroyActor(ctx context.Context, id string) (store.Actor, error) {
	var (
		r          *record
		wasDeleted bool
	)
	err := s.update(ctx, func(tx Tx) error {
		var err error
		if r, err = getRecord(tx, id); err != nil {
			return err
		}
		if r.DestroyedAt != 0 {
			wasDeleted = true
			return nil
		}
		r.Generation++
		if err := setPlacement(tx, r, ""); err != nil {
			return err
		}
		r.DestroyedAt = s.stamp()
		if err := putRecord(tx, r); err != nil {
			return err
		}
		if err := tx.Bucket(bucketKeyIdx).Delete(keyIndexKey(r.Namespace, r.Name, r.Key)); err != nil {
			return fmt.Errorf("unindex key: %w", err)
		}
		lk := append(listPrefix(r.Namespace, r.Name), listSuffix(r.CreatedAt, r.ID)...)
		if err := tx.Bucket(bucketListIdx).Put(lk, listValue(true, r.Key)); err != nil {
			return fmt.Errorf("update list index: %w", err)
		}
		if err := tx.Bucket(bucketState).Delete([]byte(id)); err != nil {
			return fmt.Errorf("delete state: %w", err)
		}
		if err := tx.Bucket(bucketKV).DeleteBucket([]byte(id)); err != nil && !errors.Is(err, ErrBucketNotFound) {
			return fmt.Errorf("delete kv: %w", err)
		}
		if err := dropActorPages(tx, id); err != nil {
			return err
		}
		return dropActorQueues(tx, id)
	})
	if err != nil {
		return store.Actor{}, fmt.Errorf("destroy actor: %w", err)
	}
	a, err := r.actor()
	if err != nil {
		return store.Actor{}, err
	}
	if wasDeleted {
		return a, fmt.Errorf("destroy actor %s: %w", id, store.ErrDestroyed)
	}
	return a, nil
}

// Activate places the actor on runnerID under generation current+1.
func (s *Store) Activate(ctx context.Context, id, runnerID string, expectGen uint64) (store.Actor, error) {
	var r *record
	err := s.batch(ctx, func(tx Tx) error {
		var err error
		if r, err = getRecord(tx, id); err != nil {
			return err
		}
		if r.DestroyedAt != 0 {
			return fmt.Errorf("actor %s: %w", id, store.ErrDestroyed)
		}
		if expectGen != 0 && expectGen != r.Generation {
			return fmt.Errorf("actor %s: expected generation %d, current %d: %w", id, expectGen, r.Generation, store.ErrFenced)
		}
		return s.activate(tx, r, runnerID)
	})
	if err != nil {
		return store.Actor{}, fmt.Errorf("activate: %w", err)
	}
	return r.actor()
}

// activate gives r the next generation on runnerID; the caller checked
// that it may.
func (s *Store) activate(tx Tx, r *record, runnerID string) error {
	r.Generation++
	if err := setPlacement(tx, r, runnerID); err != nil {
		return err
	}
	r.StartedAt = s.stamp()
	r.SleepAt = 0
	return putRecord(tx, r)
}

// fence checks that gen is the live generation of r.
func fence(r *record, gen uint64) error {
	if r.DestroyedAt != 0 {
		return store.FencedDestroyed(r.ID)
	}
	if r.Generation != gen {
		return fmt.Errorf("actor %s: generation %d, current %d: %w", r.ID, gen, r.Generation, store.ErrFenced)
	}
	return nil
}

// Deactivate clears the placement if gen is current.
func (s *Store) Deactivate(ctx context.Context, id string, gen uint64) error {
	err := s.batch(ctx, func(tx Tx) error {
		r, err := getRecord(tx, id)
		if err != nil {
			return err
		}
		if err := fence(r, gen); err != nil {
			return err
		}
		if err := setPlacement(tx, r, ""); err != nil {
			return err
		}
		r.SleepAt = s.stamp()
		return putRecord(tx, r)
	})
	if err != nil {
		return fmt.Errorf("deactivate: %w", err)
	}
	return nil
}

// LoadState returns the committed state, fenced by gen.
func (s *Store) LoadState(ctx context.Context, id string, gen uint64) ([]byte, error) {
	var st []byte
	err := s.view(ctx, func(tx Tx) error {
		r, err := getRecord(tx, id)
		if err != nil {
			return err
		}
		if err := fence(r, gen); err != nil {
			return err
		}
		if v := tx.Bucket(bucketState).Get([]byte(id)); v != nil {
			st = bytes.Clone(v)
			if st == nil {
				st = []byte{}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	return st, nil
}

// Commit applies the batch in one fsynced transaction. Each write is
// validated and fenced before its changes apply; failed writes are skipped.
func (s *Store) Commit(ctx context.Context, writes []store.Write) ([]error, error) {
	errs := make([]error, len(writes))
	if len(writes) == 0 {
		if err := s.begin(ctx); err != nil {
			return nil, err
		}
		s.end()
		return errs, nil
	}
	valid := make([]error, len(writes))
	for i, w := range writes {
		valid[i] = store.ValidateWrite(w)
	}
	// One group transaction with the directory writes of the moment (see
	// batch); fn may run again, so it starts from the validation results.
	err := s.batch(ctx, func(tx Tx) error {
		copy(errs, valid)
		now := s.stamp()
		for i, w := range writes {
			if errs[i] != nil {
				continue
			}
			r, err := getRecord(tx, w.ActorID)
			if err == nil {
				err = fence(r, w.Generation)
			}
			if err != nil {
				errs[i] = err
				continue
			}
			// The checks passed: from here on a failure is a storage
			// failure and aborts the whole batch.
			if err := apply(tx, r, w, now); err != nil {
				return fmt.Errorf("apply write %d (actor %s): %w", i, w.ActorID, err)
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, berrors.ErrDatabaseNotOpen) {
			err = store.ErrClosed
		}
		return nil, fmt.Errorf("commit: %w", err)
	}
	return errs, nil
}

// apply makes the changes of a checked write, in the order store.Write
// documents; now stamps schedule puts.
func apply(tx Tx, r *record, w store.Write, now int64) error {
	id := []byte(w.ActorID)
	kvRoot := tx.Bucket(bucketKV)
	if w.DeleteAll {
		if err := kvRoot.DeleteBucket(id); err != nil && !errors.Is(err, ErrBucketNotFound) {
			return err
		}
	}
	if len(w.Deletes) > 0 {
		if b := kvRoot.Bucket(id); b != nil {
			for _, k := range w.Deletes {
				if err := b.Delete(kvKey(k)); err != nil {
					return err
				}
			}
		}
	}
	if len(w.Puts) > 0 {
		b, err := kvRoot.CreateBucketIfNotExists(id)
		if err != nil {
			return err
		}
		for _, kv := range w.Puts {
			v := kv.Value
			if v == nil {
				v = []byte{}
			}
			if err := b.Put(kvKey(kv.Key), v); err != nil {
				return err
			}
		}
	}
	if w.State != nil {
		if err := tx.Bucket(bucketState).Put(id, w.State); err != nil {
			return err
		}
	}
	if w.Initialized && !r.Initialized {
		r.Initialized = true
		if err := putRecord(tx, r); err != nil {
			return err
		}
	}
	if len(w.QueueAcks) > 0 {
		if err := ackMessages(tx, w.ActorID, w.QueueAcks); err != nil {
			return fmt.Errorf("ack messages: %w", err)
		}
	}
	if err := applySchedules(tx, w, now); err != nil {
		return fmt.Errorf("schedules: %w", err)
	}
	if err := applySteps(tx, w); err != nil {
		return fmt.Errorf("workflow steps: %w", err)
	}
	return applyDBWrite(tx, id, w.DB)
}

// kvBucket returns the actor's KV bucket (nil when it has none) after
// checking the actor exists.
func kvBucket(tx Tx, id string) (Bucket, error) {
	if tx.Bucket(bucketActors).Get([]byte(id)) == nil {
		return nil, fmt.Errorf("actor %s: %w", id, store.ErrNotFound)
	}
	return tx.Bucket(bucketKV).Bucket([]byte(id)), nil
}

// KVGet returns the values of keys; nil entries for missing keys.
func (s *Store) KVGet(ctx context.Context, id string, keys [][]byte) ([][]byte, error) {
	out := make([][]byte, len(keys))
	err := s.view(ctx, func(tx Tx) error {
		b, err := kvBucket(tx, id)
		if err != nil || b == nil {
			return err
		}
		c := b.Cursor()
		for i, k := range keys {
			sk := kvKey(k)
			if ck, v := c.Seek(sk); ck != nil && bytes.Equal(ck, sk) {
				out[i] = append([]byte{}, v...)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kv get: %w", err)
	}
	return out, nil
}

// KVList returns the pairs of r in key order, or reverse order.
func (s *Store) KVList(ctx context.Context, id string, r store.KVRange) ([]store.KV, error) {
	start, end, limit := store.NormalizeRange(r)
	var out []store.KV
	err := s.view(ctx, func(tx Tx) error {
		b, err := kvBucket(tx, id)
		if err != nil || b == nil {
			return err
		}
		lo := kvKey(start)
		var hi []byte // exclusive; nil = unbounded
		if end != nil {
			hi = kvKey(end)
		}
		if hi != nil && bytes.Compare(lo, hi) >= 0 {
			return nil
		}
		c := b.Cursor()
		emit := func(k, v []byte) {
			out = append(out, store.KV{Key: bytes.Clone(k[1:]), Value: append([]byte{}, v...)})
			if out[len(out)-1].Key == nil {
				out[len(out)-1].Key = []byte{}
			}
		}
		if !r.Reverse {
			for k, v := c.Seek(lo); k != nil && len(out) < limit; k, v = c.Next() {
				if hi != nil && bytes.Compare(k, hi) >= 0 {
					break
				}
				emit(k, v)
			}
			return nil
		}
		var k, v []byte
		if hi == nil {
			k, v = c.Last()
		} else if k, _ = c.Seek(hi); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && len(out) < limit; k, v = c.Prev() {
			if bytes.Compare(k, lo) < 0 {
				break
			}
			emit(k, v)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kv list: %w", err)
	}
	return out, nil
}
