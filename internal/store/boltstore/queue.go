package boltstore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/rivetkube/rivetkube/internal/store"
)

// Queues, schedules and workflow steps (schema version 3).
//
//	queues     actor id → nested bucket (only while the actor has messages):
//	           big-endian seq → message record
//	queue_seq  actor id → last seq | message count (uvarints)
//	schedules  actor id → nested bucket: schedule id → schedule record
//	idx_due    due time | actor id | schedule id → (empty)
//	workflows  actor id → nested bucket: workflow id | step name → step record
//
// The due time in idx_due is big-endian with the sign bit flipped, so the
// index iterates in due order; the actor id is length-prefixed.

const queueRecordVersion = 1

// ---- encoding ----

// seqKey is the queue bucket key of seq: big-endian, so cursor order is
// seq order.
func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// timeKey encodes unix nanoseconds so that byte order is time order.
func timeKey(b []byte, n int64) []byte { return binary.BigEndian.AppendUint64(b, uint64(n)^(1<<63)) }

func dueKey(at int64, actorID, id string) []byte {
	b := make([]byte, 0, 8+binary.MaxVarintLen64+len(actorID)+len(id))
	b = timeKey(b, at)
	b = appendString(b, actorID)
	return append(b, id...)
}

// parseDueKey returns the due time and actor ID of an idx_due key.
func parseDueKey(k []byte) (int64, string, error) {
	if len(k) < 9 {
		return 0, "", errCorrupt
	}
	at := int64(binary.BigEndian.Uint64(k) ^ (1 << 63))
	d := &decoder{b: k[8:]}
	actor := d.string()
	if d.err != nil {
		return 0, "", fmt.Errorf("due index key: %w", d.err)
	}
	return at, actor, nil
}

func stepKey(workflow, name string) []byte {
	b := make([]byte, 0, binary.MaxVarintLen64+len(workflow)+len(name))
	return append(appendString(b, workflow), name...)
}

// appendTime encodes a time that may be zero (a flag, then nanoseconds).
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	return binary.AppendVarint(append(b, 1), t.UnixNano())
}

func (d *decoder) time() time.Time {
	if d.byte() == 0 {
		return time.Time{}
	}
	n := d.varint()
	if d.err != nil {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func (d *decoder) done(what string) error {
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	if d.err != nil {
		return fmt.Errorf("%s record: %w", what, d.err)
	}
	return nil
}

func marshalMessage(name string, body []byte, enqueued int64) []byte {
	b := make([]byte, 0, 2*binary.MaxVarintLen64+2+len(name)+len(body))
	b = append(b, queueRecordVersion)
	b = appendString(b, name)
	b = appendBytes(b, body)
	return binary.AppendVarint(b, enqueued)
}

func unmarshalMessage(actorID string, k, v []byte) (store.QueueMessage, error) {
	if len(k) != 8 {
		return store.QueueMessage{}, fmt.Errorf("queue key %x: %w", k, errCorrupt)
	}
	d := &decoder{b: v}
	if ver := d.byte(); ver != queueRecordVersion {
		return store.QueueMessage{}, fmt.Errorf("queue record version %d: %w", ver, errCorrupt)
	}
	m := store.QueueMessage{ActorID: actorID, Seq: binary.BigEndian.Uint64(k)}
	m.Name = d.string()
	m.Body = d.bytes()
	m.EnqueuedAt = fromNanos(d.varint())
	return m, d.done("queue")
}

// queueCounter is the queue_seq value of an actor.
type queueCounter struct {
	last  uint64 // highest seq ever assigned
	count uint64 // messages queued now
}

func getCounter(tx Tx, actorID string) (queueCounter, error) {
	v := tx.Bucket(bucketQueueSeq).Get([]byte(actorID))
	if v == nil {
		return queueCounter{}, nil
	}
	d := &decoder{b: v}
	c := queueCounter{last: d.uvarint(), count: d.uvarint()}
	if err := d.done("queue counter"); err != nil {
		return queueCounter{}, fmt.Errorf("actor %s: %w", actorID, err)
	}
	return c, nil
}

func putCounter(tx Tx, actorID string, c queueCounter) error {
	b := binary.AppendUvarint(make([]byte, 0, 2*binary.MaxVarintLen64), c.last)
	b = binary.AppendUvarint(b, c.count)
	return tx.Bucket(bucketQueueSeq).Put([]byte(actorID), b)
}

func marshalSchedule(sc store.Schedule, created int64) []byte {
	b := make([]byte, 0, 4*binary.MaxVarintLen64+2+len(sc.Action)+len(sc.Args))
	b = append(b, queueRecordVersion)
	b = binary.AppendVarint(b, sc.At.UnixNano())
	b = appendString(b, sc.Action)
	b = appendBytes(b, sc.Args)
	return binary.AppendVarint(b, created)
}

func unmarshalSchedule(actorID string, id, v []byte) (store.Schedule, error) {
	d := &decoder{b: v}
	if ver := d.byte(); ver != queueRecordVersion {
		return store.Schedule{}, fmt.Errorf("schedule record version %d: %w", ver, errCorrupt)
	}
	sc := store.Schedule{ActorID: actorID, ID: string(id)}
	sc.At = time.Unix(0, d.varint())
	sc.Action = d.string()
	sc.Args = d.bytes()
	sc.CreatedAt = fromNanos(d.varint())
	return sc, d.done("schedule")
}

func marshalStep(st store.WorkflowStep) []byte {
	b := make([]byte, 0, 6*binary.MaxVarintLen64+8+len(st.Status)+len(st.Result)+len(st.Error))
	b = append(b, queueRecordVersion)
	b = binary.AppendUvarint(b, st.Seq)
	b = appendString(b, st.Status)
	if st.Result == nil {
		b = append(b, 0)
	} else {
		b = appendBytes(append(b, 1), st.Result)
	}
	b = appendString(b, st.Error)
	b = binary.AppendUvarint(b, uint64(st.Attempts))
	b = appendTime(b, store.TruncTime(st.StartedAt))
	return appendTime(b, store.TruncTime(st.FinishedAt))
}

func unmarshalStep(actorID string, k, v []byte) (store.WorkflowStep, error) {
	kd := &decoder{b: k}
	st := store.WorkflowStep{ActorID: actorID, Workflow: kd.string()}
	if kd.err != nil {
		return store.WorkflowStep{}, fmt.Errorf("workflow step key: %w", kd.err)
	}
	st.Name = string(kd.b)
	d := &decoder{b: v}
	if ver := d.byte(); ver != queueRecordVersion {
		return store.WorkflowStep{}, fmt.Errorf("workflow step record version %d: %w", ver, errCorrupt)
	}
	st.Seq = d.uvarint()
	st.Status = d.string()
	if d.byte() == 1 {
		st.Result = d.bytes()
	}
	st.Error = d.string()
	st.Attempts = int(d.uvarint())
	st.StartedAt = d.time()
	st.FinishedAt = d.time()
	return st, d.done("workflow step")
}

// actorExists returns ErrNotFound unless the actor has a row.
func actorExists(tx Tx, id string) error {
	if tx.Bucket(bucketActors).Get([]byte(id)) == nil {
		return fmt.Errorf("actor %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// ---- queue ----

// Enqueue appends a message. bbolt serializes write transactions, so the
// max check and the append are atomic.
func (s *Store) Enqueue(ctx context.Context, actorID, name string, body []byte, max int) (store.QueueMessage, error) {
	if err := store.ValidateEnqueue(actorID, name, body); err != nil {
		return store.QueueMessage{}, err
	}
	m := store.QueueMessage{ActorID: actorID, Name: name, Body: bytes.Clone(body)}
	if m.Body == nil {
		m.Body = []byte{}
	}
	err := s.update(ctx, func(tx Tx) error {
		r, err := getRecord(tx, actorID)
		if err != nil {
			return err
		}
		if r.DestroyedAt != 0 {
			return fmt.Errorf("actor %s: %w", actorID, store.ErrDestroyed)
		}
		c, err := getCounter(tx, actorID)
		if err != nil {
			return err
		}
		if max > 0 && c.count >= uint64(max) {
			return fmt.Errorf("actor %s holds %d messages: %w", actorID, c.count, store.ErrQueueFull)
		}
		if c.last >= math.MaxInt64 {
			return fmt.Errorf("actor %s: queue sequence exhausted", actorID)
		}
		c.last++
		c.count++
		b, err := tx.Bucket(bucketQueues).CreateBucketIfNotExists([]byte(actorID))
		if err != nil {
			return err
		}
		if bb, ok := b.(boltBucket); ok {
			bb.b.FillPercent = 0.9 // keys are appended in order
		}
		now := s.stamp()
		if err := b.Put(seqKey(c.last), marshalMessage(name, m.Body, now)); err != nil {
			return err
		}
		m.Seq, m.EnqueuedAt = c.last, fromNanos(now)
		return putCounter(tx, actorID, c)
	})
	if err != nil {
		return store.QueueMessage{}, fmt.Errorf("enqueue: %w", err)
	}
	return m, nil
}

// ListQueue returns messages with Seq > after in order, a cursor walk of
// the actor's queue bucket.
func (s *Store) ListQueue(ctx context.Context, actorID string, after uint64, names []string, limit int) ([]store.QueueMessage, error) {
	limit = store.ListLimit(limit)
	var out []store.QueueMessage
	err := s.view(ctx, func(tx Tx) error {
		if err := actorExists(tx, actorID); err != nil {
			return err
		}
		var err error
		out, err = queueOf(tx, actorID, after, names, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list queue: %w", err)
	}
	return out, nil
}

// queueOf lists up to limit of the actor's messages after seq after,
// those named in names (all when empty).
func queueOf(tx Tx, actorID string, after uint64, names []string, limit int) ([]store.QueueMessage, error) {
	b := tx.Bucket(bucketQueues).Bucket([]byte(actorID))
	if b == nil || after >= math.MaxInt64 {
		return nil, nil
	}
	var out []store.QueueMessage
	c := b.Cursor()
	for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
		m, err := unmarshalMessage(actorID, k, v)
		if err != nil {
			return nil, err
		}
		if len(names) == 0 || slices.Contains(names, m.Name) {
			out = append(out, m)
		}
	}
	return out, nil
}

// QueueLen returns the actor's message count from its counter.
func (s *Store) QueueLen(ctx context.Context, actorID string) (int, error) {
	var n int
	err := s.view(ctx, func(tx Tx) error {
		if err := actorExists(tx, actorID); err != nil {
			return err
		}
		c, err := getCounter(tx, actorID)
		n = int(c.count)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("queue len: %w", err)
	}
	return n, nil
}

// ackMessages removes the acknowledged messages of a checked write, keeping
// the counter and the bucket-only-while-non-empty rule.
func ackMessages(tx Tx, actorID string, seqs []uint64) error {
	root := tx.Bucket(bucketQueues)
	b := root.Bucket([]byte(actorID))
	if b == nil {
		return nil
	}
	c, err := getCounter(tx, actorID)
	if err != nil {
		return err
	}
	removed := uint64(0)
	for _, seq := range seqs {
		k := seqKey(seq)
		if b.Get(k) == nil {
			continue
		}
		if err := b.Delete(k); err != nil {
			return err
		}
		removed++
	}
	if removed == 0 {
		return nil
	}
	c.count -= min(removed, c.count)
	if c.count == 0 {
		if err := root.DeleteBucket([]byte(actorID)); err != nil {
			return err
		}
	}
	return putCounter(tx, actorID, c)
}

// ---- schedules ----

func deleteSchedule(tx Tx, b Bucket, actorID, id string) error {
	v := b.Get([]byte(id))
	if v == nil {
		return nil
	}
	old, err := unmarshalSchedule(actorID, []byte(id), v)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketDueIdx).Delete(dueKey(old.At.UnixNano(), actorID, id)); err != nil {
		return err
	}
	return b.Delete([]byte(id))
}

// applySchedules applies the schedule deletes, then puts, of a checked
// write, keeping idx_due in step.
func applySchedules(tx Tx, w store.Write, now int64) error {
	if len(w.ScheduleDeletes) == 0 && len(w.SchedulePuts) == 0 {
		return nil
	}
	root := tx.Bucket(bucketSchedules)
	b := root.Bucket([]byte(w.ActorID))
	if b == nil && len(w.SchedulePuts) > 0 {
		var err error
		if b, err = root.CreateBucket([]byte(w.ActorID)); err != nil {
			return err
		}
	}
	if b == nil {
		return nil
	}
	for _, id := range w.ScheduleDeletes {
		if err := deleteSchedule(tx, b, w.ActorID, id); err != nil {
			return err
		}
	}
	for _, sc := range w.SchedulePuts {
		if err := deleteSchedule(tx, b, w.ActorID, sc.ID); err != nil {
			return err
		}
		sc.At = store.TruncTime(sc.At)
		if err := b.Put([]byte(sc.ID), marshalSchedule(sc, now)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketDueIdx).Put(dueKey(sc.At.UnixNano(), w.ActorID, sc.ID), nil); err != nil {
			return err
		}
	}
	return nil
}

// schedulesOf returns the actor's schedules in (At, ID) order.
func schedulesOf(tx Tx, actorID string) ([]store.Schedule, error) {
	b := tx.Bucket(bucketSchedules).Bucket([]byte(actorID))
	if b == nil {
		return nil, nil
	}
	var out []store.Schedule
	err := b.ForEach(func(k, v []byte) error {
		sc, err := unmarshalSchedule(actorID, k, v)
		out = append(out, sc)
		return err
	})
	slices.SortFunc(out, func(a, b store.Schedule) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.ID, b.ID))
	})
	return out, err
}

// ListSchedules returns the actor's schedules ordered by At then ID.
func (s *Store) ListSchedules(ctx context.Context, actorID string) ([]store.Schedule, error) {
	var out []store.Schedule
	err := s.view(ctx, func(tx Tx) error {
		if err := actorExists(tx, actorID); err != nil {
			return err
		}
		var err error
		out, err = schedulesOf(tx, actorID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	return out, nil
}

// NextDue returns the actor's earliest schedule time.
func (s *Store) NextDue(ctx context.Context, actorID string) (time.Time, error) {
	var next time.Time
	err := s.view(ctx, func(tx Tx) error {
		if err := actorExists(tx, actorID); err != nil {
			return err
		}
		b := tx.Bucket(bucketSchedules).Bucket([]byte(actorID))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			sc, err := unmarshalSchedule(actorID, k, v)
			if err == nil && (next.IsZero() || sc.At.Before(next)) {
				next = sc.At
			}
			return err
		})
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("next due: %w", err)
	}
	return next, nil
}

// DueActors merges two index walks: idx_due up to the store's clock (in
// due order, so the first entry of an actor is its earliest) and the
// queues bucket, whose keys are exactly the actors holding messages.
func (s *Store) DueActors(ctx context.Context, limit int) ([]string, error) {
	limit = store.ListLimit(limit)
	type cand struct {
		id  string
		due int64
	}
	var out []string
	err := s.view(ctx, func(tx Tx) error {
		now := s.stamp()
		due := map[string]int64{}
		// Schedules: the first limit distinct actors in due order are the
		// only ones that can rank in the answer (plus ties at the last
		// due time, whose index order is not ID order).
		c := tx.Bucket(bucketDueIdx).Cursor()
		var lastAt int64
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			at, actorID, err := parseDueKey(k)
			if err != nil {
				return err
			}
			if at > now || (len(due) >= limit && at != lastAt) {
				break
			}
			if _, ok := due[actorID]; !ok {
				due[actorID] = at
				lastAt = at
			}
		}
		for id := range due {
			r, err := getRecord(tx, id)
			if err != nil {
				return err
			}
			if r.DestroyedAt != 0 { // destroy removes schedules; never here
				delete(due, id)
			}
		}
		// Sleeping actors with messages, due at their oldest message.
		qc := tx.Bucket(bucketQueues).Cursor()
		for k, v := qc.First(); k != nil; k, v = qc.Next() {
			if v != nil {
				return fmt.Errorf("queues: stray key %q", k)
			}
			id := string(k)
			r, err := getRecord(tx, id)
			if err != nil {
				return err
			}
			if r.DestroyedAt != 0 || r.RunnerID != "" {
				continue
			}
			mk, mv := tx.Bucket(bucketQueues).Bucket(k).Cursor().First()
			if mk == nil {
				continue
			}
			m, err := unmarshalMessage(id, mk, mv)
			if err != nil {
				return err
			}
			at := nanos(m.EnqueuedAt)
			if d, ok := due[id]; !ok || at < d {
				due[id] = at
			}
		}
		cands := make([]cand, 0, len(due))
		for id, at := range due {
			cands = append(cands, cand{id, at})
		}
		slices.SortFunc(cands, func(a, b cand) int { return cmp.Or(cmp.Compare(a.due, b.due), cmp.Compare(a.id, b.id)) })
		for _, c := range cands[:min(len(cands), limit)] {
			out = append(out, c.id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("due actors: %w", err)
	}
	return out, nil
}

// ---- workflow steps ----

// applySteps applies the workflow deletes, then step upserts, of a checked
// write.
func applySteps(tx Tx, w store.Write) error {
	if len(w.WorkflowDeletes) == 0 && len(w.StepPrefixDeletes) == 0 && len(w.WorkflowSteps) == 0 {
		return nil
	}
	root := tx.Bucket(bucketWorkflows)
	b := root.Bucket([]byte(w.ActorID))
	if b == nil && len(w.WorkflowSteps) > 0 {
		var err error
		if b, err = root.CreateBucket([]byte(w.ActorID)); err != nil {
			return err
		}
	}
	if b == nil {
		return nil
	}
	deletePrefix := func(prefix []byte) error {
		c := b.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	}
	for _, wf := range w.WorkflowDeletes {
		if err := deletePrefix(appendString(nil, wf)); err != nil {
			return err
		}
	}
	for _, sp := range w.StepPrefixDeletes {
		if err := deletePrefix(stepKey(sp.Workflow, sp.Prefix)); err != nil {
			return err
		}
	}
	for _, st := range w.WorkflowSteps {
		if err := b.Put(stepKey(st.Workflow, st.Name), marshalStep(st)); err != nil {
			return err
		}
	}
	return nil
}

// ListWorkflowSteps returns the steps of a run (all runs for "") by Seq,
// from a prefix walk of the actor's workflow bucket.
func (s *Store) ListWorkflowSteps(ctx context.Context, actorID, workflow string) ([]store.WorkflowStep, error) {
	var out []store.WorkflowStep
	err := s.view(ctx, func(tx Tx) error {
		if err := actorExists(tx, actorID); err != nil {
			return err
		}
		b := tx.Bucket(bucketWorkflows).Bucket([]byte(actorID))
		if b == nil {
			return nil
		}
		var prefix []byte
		if workflow != "" {
			prefix = appendString(nil, workflow)
		}
		c := b.Cursor()
		k, v := c.First()
		if prefix != nil {
			k, v = c.Seek(prefix)
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			st, err := unmarshalStep(actorID, k, v)
			if err != nil {
				return err
			}
			out = append(out, st)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list workflow steps: %w", err)
	}
	slices.SortFunc(out, func(a, b store.WorkflowStep) int {
		return cmp.Or(cmp.Compare(a.Seq, b.Seq), cmp.Compare(a.Workflow, b.Workflow), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

// ---- destroy ----

// dropActorQueues removes every message, schedule (with its idx_due entry)
// and workflow step of a destroyed actor. The queue counter keeps its last
// seq.
func dropActorQueues(tx Tx, actorID string) error {
	id := []byte(actorID)
	if err := tx.Bucket(bucketQueues).DeleteBucket(id); err != nil && !errors.Is(err, ErrBucketNotFound) {
		return fmt.Errorf("delete queue: %w", err)
	}
	if c, err := getCounter(tx, actorID); err != nil {
		return err
	} else if c.count != 0 {
		c.count = 0
		if err := putCounter(tx, actorID, c); err != nil {
			return err
		}
	}
	if b := tx.Bucket(bucketSchedules).Bucket(id); b != nil {
		idx := tx.Bucket(bucketDueIdx)
		err := b.ForEach(func(k, v []byte) error {
			sc, err := unmarshalSchedule(actorID, k, v)
			if err != nil {
				return err
			}
			return idx.Delete(dueKey(sc.At.UnixNano(), actorID, sc.ID))
		})
		if err != nil {
			return fmt.Errorf("unindex schedules: %w", err)
		}
		if err := tx.Bucket(bucketSchedules).DeleteBucket(id); err != nil {
			return fmt.Errorf("delete schedules: %w", err)
		}
	}
	if err := tx.Bucket(bucketWorkflows).DeleteBucket(id); err != nil && !errors.Is(err, ErrBucketNotFound) {
		return fmt.Errorf("delete workflow steps: %w", err)
	}
	return nil
}
