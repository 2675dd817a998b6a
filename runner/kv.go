package runner

import (
	"bytes"
	"context"
	"sort"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/store"
)

// KV is the actor's own durable key/value space. Keys and values are
// arbitrary bytes. Changes made during an action commit atomically with the
// action's state change; reads see the actor's own uncommitted writes.
type KV struct {
	in  *Instance
	ctx context.Context
}

// Pair is one key/value pair.
type Pair struct {
	Key   []byte
	Value []byte
}

type kvEntry struct {
	value   []byte // nil with deleted
	deleted bool
	gate    *store.Pending // nil while the write belongs to the running task
}

// kvState is the overlay of writes not yet known to be committed, and the
// write set of the running task (mailbox only).
type kvState struct {
	overlay map[string]*kvEntry
	task    map[string]*kvEntry
}

func (s *kvState) set(key []byte, e *kvEntry) {
	if s.overlay == nil {
		s.overlay, s.task = map[string]*kvEntry{}, map[string]*kvEntry{}
	}
	s.overlay[string(key)] = e
	s.task[string(key)] = e
}

// takeTask returns the running task's puts and deletes.
func (s *kvState) takeTask() (puts []store.KV, dels [][]byte) {
	if len(s.task) == 0 {
		return nil, nil
	}
	for k, e := range s.task {
		if e.deleted {
			dels = append(dels, []byte(k))
		} else {
			puts = append(puts, store.KV{Key: []byte(k), Value: e.value})
		}
	}
	clear(s.task)
	return puts, dels
}

// committed stamps the task's overlay entries with their commit and prunes
// entries whose commits are done.
func (s *kvState) committed(p *store.Pending) {
	for k, e := range s.overlay {
		if e.gate == nil {
			e.gate = p
			continue
		}
		select {
		case <-e.gate.Done():
			if e.gate.Err() == nil {
				delete(s.overlay, k)
			}
		default:
		}
	}
}

// discardTask forgets the running task's writes (the task was rolled back).
func (s *kvState) discardTask() {
	for k := range s.task {
		delete(s.overlay, k)
	}
	clear(s.task)
}

func (kv *KV) checkKey(key []byte) error {
	if len(key) == 0 {
		return errs.InvalidRequest("kv key must not be empty")
	}
	if len(key) > kv.in.rt.limits.MaxKVKeySize {
		return errs.InvalidRequest("kv key is %d bytes, limit is %d", len(key), kv.in.rt.limits.MaxKVKeySize)
	}
	return nil
}

// Get returns the value of key, or nil when it is not set.
func (kv *KV) Get(key []byte) ([]byte, error) {
	if err := kv.checkKey(key); err != nil {
		return nil, err
	}
	if e, ok := kv.in.kv.overlay[string(key)]; ok {
		if e.deleted {
			return nil, nil
		}
		return bytes.Clone(e.value), nil
	}
	vals, err := kv.in.rt.store.KVGet(kv.ctx, kv.in.id, [][]byte{key})
	if err != nil {
		return nil, errs.FromStore(err)
	}
	return vals[0], nil
}

// Put sets key to value.
func (kv *KV) Put(key, value []byte) error {
	if err := kv.checkKey(key); err != nil {
		return err
	}
	if len(value) > kv.in.rt.limits.MaxKVValue {
		return errs.InvalidRequest("kv value is %d bytes, limit is %d", len(value), kv.in.rt.limits.MaxKVValue)
	}
	kv.in.kv.set(key, &kvEntry{value: bytes.Clone(value)})
	return nil
}

// Delete removes key.
func (kv *KV) Delete(key []byte) error {
	if err := kv.checkKey(key); err != nil {
		return err
	}
	kv.in.kv.set(key, &kvEntry{deleted: true})
	return nil
}

// ListOptions bounds a listing; Limit <= 0 means up to 10,000 pairs.
type ListOptions struct {
	Limit   int
	Reverse bool
}

// ListPrefix returns pairs whose key starts with prefix, in key order.
func (kv *KV) ListPrefix(prefix []byte, opts ListOptions) ([]Pair, error) {
	if prefix == nil {
		prefix = []byte{}
	}
	return kv.list(store.KVRange{Prefix: prefix}, opts, func(k []byte) bool { return bytes.HasPrefix(k, prefix) })
}

// ListRange returns pairs with start <= key < end (end nil: no upper bound).
func (kv *KV) ListRange(start, end []byte, opts ListOptions) ([]Pair, error) {
	return kv.list(store.KVRange{Start: start, End: end}, opts, func(k []byte) bool {
		return bytes.Compare(k, start) >= 0 && (end == nil || bytes.Compare(k, end) < 0)
	})
}

const kvListCap = 10000

func (kv *KV) list(r store.KVRange, opts ListOptions, in func([]byte) bool) ([]Pair, error) {
	limit := opts.Limit
	if limit <= 0 || limit > kvListCap {
		limit = kvListCap
	}
	r.Reverse = opts.Reverse
	// Overlay entries in range change the answer; fetch enough to cover them.
	var local []string
	for k := range kv.in.kv.overlay {
		if in([]byte(k)) {
			local = append(local, k)
		}
	}
	r.Limit = limit + len(local)
	stored, err := kv.in.rt.store.KVList(kv.ctx, kv.in.id, r)
	if err != nil {
		return nil, errs.FromStore(err)
	}
	if len(local) == 0 {
		out := make([]Pair, 0, min(len(stored), limit))
		for _, p := range stored[:min(len(stored), limit)] {
			out = append(out, Pair{Key: p.Key, Value: p.Value})
		}
		return out, nil
	}
	merged := map[string][]byte{}
	for _, p := range stored {
		merged[string(p.Key)] = p.Value
	}
	for _, k := range local {
		e := kv.in.kv.overlay[k]
		if e.deleted {
			delete(merged, k)
		} else {
			merged[k] = e.value
		}
	}
	keys := make([]string, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if opts.Reverse {
		for i, j := 0, len(keys)-1; i < j; i, j = i+1, j-1 {
			keys[i], keys[j] = keys[j], keys[i]
		}
	}
	// A short store page means everything in range was seen; otherwise keys
	// beyond the last stored key may be missing, so stop there.
	complete := len(stored) < r.Limit
	var last []byte
	if !complete && len(stored) > 0 {
		last = stored[len(stored)-1].Key
	}
	out := make([]Pair, 0, min(len(keys), limit))
	for _, k := range keys {
		if len(out) >= limit {
			break
		}
		if last != nil {
			c := bytes.Compare([]byte(k), last)
			if (!opts.Reverse && c > 0) || (opts.Reverse && c < 0) {
				break
			}
		}
		out = append(out, Pair{Key: []byte(k), Value: bytes.Clone(merged[k])})
	}
	return out, nil
}
