package store

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrInvalid is wrapped by errors caused by a malformed argument (an empty
// actor ID, an oversized KV key, a bad list cursor, ...). It is an additive
// companion to the sentinels of store.go.
var ErrInvalid = errors.New("invalid argument")

// MaxKVKeySize is the largest per-actor KV key, in bytes, that every store
// accepts. It keeps keys within the index-entry limits of both backends
// (bbolt caps keys at 32 KiB, a PostgreSQL btree entry at about 2.7 KiB).
const MaxKVKeySize = 2048

// ValidateWrite checks the parts of w that do not depend on stored data, so
// a store can reject a malformed write before applying any write of a batch.
func ValidateWrite(w Write) error {
	if w.ActorID == "" {
		return fmt.Errorf("write: actor id is empty: %w", ErrInvalid)
	}
	for _, kv := range w.Puts {
		if len(kv.Key) > MaxKVKeySize {
			return fmt.Errorf("write: kv key of %d bytes exceeds %d: %w", len(kv.Key), MaxKVKeySize, ErrInvalid)
		}
	}
	for _, k := range w.Deletes {
		if len(k) > MaxKVKeySize {
			return fmt.Errorf("write: kv key of %d bytes exceeds %d: %w", len(k), MaxKVKeySize, ErrInvalid)
		}
	}
	for _, seq := range w.QueueAcks {
		if seq > math.MaxInt64 {
			return fmt.Errorf("write: queue ack %d out of range: %w", seq, ErrInvalid)
		}
	}
	for _, sc := range w.SchedulePuts {
		if sc.ActorID != "" && sc.ActorID != w.ActorID {
			return fmt.Errorf("write: schedule %q of actor %s in a write of %s: %w", sc.ID, sc.ActorID, w.ActorID, ErrInvalid)
		}
		if err := ValidateSchedule(sc); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	for _, id := range w.ScheduleDeletes {
		if err := checkName("schedule id", id, MaxScheduleIDSize); err != nil {
			return fmt.Errorf("write: schedule delete: %w", err)
		}
	}
	for _, st := range w.WorkflowSteps {
		if st.ActorID != "" && st.ActorID != w.ActorID {
			return fmt.Errorf("write: workflow step %q of actor %s in a write of %s: %w", st.Name, st.ActorID, w.ActorID, ErrInvalid)
		}
		if err := ValidateWorkflowStep(st); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	for _, wf := range w.WorkflowDeletes {
		if err := checkName("workflow id", wf, MaxWorkflowIDSize); err != nil {
			return fmt.Errorf("write: workflow delete: %w", err)
		}
	}
	if err := ValidateDBWrite(w.DB); err != nil {
		return err
	}
	for _, sp := range w.StepPrefixDeletes {
		if err := checkName("workflow id", sp.Workflow, MaxWorkflowIDSize); err != nil {
			return fmt.Errorf("write: step prefix delete: %w", err)
		}
		if err := checkName("step name prefix", sp.Prefix, MaxStepNameSize); err != nil {
			return fmt.Errorf("write: step prefix delete: %w", err)
		}
	}
	return nil
}

// Limits of queues, schedules and workflow steps, in bytes. Stores reject
// larger input with ErrInvalid.
const (
	MaxQueueNameSize    = 256     // QueueMessage.Name
	MaxQueueBodySize    = 1 << 20 // QueueMessage.Body
	MaxScheduleIDSize   = 128     // Schedule.ID
	MaxActionNameSize   = 256     // Schedule.Action
	MaxScheduleArgsSize = 1 << 20 // Schedule.Args
	MaxWorkflowIDSize   = 256     // WorkflowStep.Workflow
	MaxStepNameSize     = 256     // WorkflowStep.Name
	MaxStepResultSize   = 1 << 20 // WorkflowStep.Result
	MaxStepErrorSize    = 4 << 10 // WorkflowStep.Error
)

// MinTime and MaxTime bound the caller-chosen times a store accepts
// (Schedule.At, WorkflowStep.StartedAt and FinishedAt): every store can
// represent and order them (the embedded store keeps Unix nanoseconds in an
// int64, which ends in 2262).
var (
	MinTime = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// TruncTime is the stored form of a caller-chosen time: truncated to the
// microsecond (the precision of PostgreSQL's timestamptz), so both stores
// read back the same value.
func TruncTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Truncate(time.Microsecond)
}

// checkName checks a required identifier of at most max bytes.
func checkName(what, v string, max int) error {
	switch {
	case v == "":
		return fmt.Errorf("%s is empty: %w", what, ErrInvalid)
	case len(v) > max:
		return fmt.Errorf("%s of %d bytes exceeds %d: %w", what, len(v), max, ErrInvalid)
	}
	return nil
}

func checkSize(what string, n, max int) error {
	if n > max {
		return fmt.Errorf("%s of %d bytes exceeds %d: %w", what, n, max, ErrInvalid)
	}
	return nil
}

// checkTime checks a caller-chosen time: zero (when allowed) or within
// MinTime..MaxTime.
func checkTime(what string, t time.Time, zeroOK bool) error {
	if t.IsZero() {
		if zeroOK {
			return nil
		}
		return fmt.Errorf("%s is zero: %w", what, ErrInvalid)
	}
	if t.Before(MinTime) || t.After(MaxTime) {
		return fmt.Errorf("%s %v not within %v..%v: %w", what, t, MinTime, MaxTime, ErrInvalid)
	}
	return nil
}

// ValidateEnqueue checks the arguments of Enqueue.
func ValidateEnqueue(actorID, name string, body []byte) error {
	if actorID == "" {
		return fmt.Errorf("enqueue: actor id is empty: %w", ErrInvalid)
	}
	if err := checkName("queue name", name, MaxQueueNameSize); err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	if err := checkSize("queue body", len(body), MaxQueueBodySize); err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	return nil
}

// ValidateSchedule checks a schedule of Write.SchedulePuts.
func ValidateSchedule(sc Schedule) error {
	if err := checkName("schedule id", sc.ID, MaxScheduleIDSize); err != nil {
		return err
	}
	if err := checkName("schedule "+sc.ID+": action", sc.Action, MaxActionNameSize); err != nil {
		return err
	}
	if err := checkSize("schedule "+sc.ID+": args", len(sc.Args), MaxScheduleArgsSize); err != nil {
		return err
	}
	return checkTime("schedule "+sc.ID+": time", sc.At, false)
}

// ValidateWorkflowStep checks a step of Write.WorkflowSteps.
func ValidateWorkflowStep(st WorkflowStep) error {
	if err := checkName("workflow id", st.Workflow, MaxWorkflowIDSize); err != nil {
		return err
	}
	if err := checkName("workflow "+st.Workflow+": step name", st.Name, MaxStepNameSize); err != nil {
		return err
	}
	what := "workflow " + st.Workflow + " step " + st.Name
	switch st.Status {
	case StepCompleted, StepFailed, StepRunning:
	default:
		return fmt.Errorf("%s: status %q: %w", what, st.Status, ErrInvalid)
	}
	if st.Seq > math.MaxInt64 {
		return fmt.Errorf("%s: seq %d out of range: %w", what, st.Seq, ErrInvalid)
	}
	if st.Attempts < 0 || st.Attempts > math.MaxInt32 {
		return fmt.Errorf("%s: attempts %d out of range: %w", what, st.Attempts, ErrInvalid)
	}
	if err := checkSize(what+": result", len(st.Result), MaxStepResultSize); err != nil {
		return err
	}
	if err := checkSize(what+": error", len(st.Error), MaxStepErrorSize); err != nil {
		return err
	}
	if err := checkTime(what+": start time", st.StartedAt, true); err != nil {
		return err
	}
	return checkTime(what+": finish time", st.FinishedAt, true)
}

// ValidateSpec checks an ActorSpec before creation.
func ValidateSpec(spec ActorSpec) error {
	if spec.ID == "" {
		return fmt.Errorf("create actor: id is empty: %w", ErrInvalid)
	}
	if spec.Name == "" {
		return fmt.Errorf("create actor: name is empty: %w", ErrInvalid)
	}
	return nil
}

// FencedDestroyed is the error of a fenced operation on a destroyed actor:
// it matches both ErrFenced and ErrDestroyed with errors.Is.
func FencedDestroyed(id string) error {
	return fmt.Errorf("actor %s: %w: %w", id, ErrFenced, ErrDestroyed)
}

// PrefixEnd returns the smallest key greater than every key that starts with
// prefix, or nil when there is none (prefix empty or all 0xff bytes).
func PrefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// NormalizeRange turns r into a half-open [start, end) interval (end nil =
// unbounded) and an effective limit in 1..KVListCap.
func NormalizeRange(r KVRange) (start, end []byte, limit int) {
	start, end = r.Start, r.End
	if r.Prefix != nil {
		start, end = r.Prefix, PrefixEnd(r.Prefix)
	}
	limit = r.Limit
	if limit <= 0 || limit > KVListCap {
		limit = KVListCap
	}
	return start, end, limit
}

// KVListCap is the most pairs one KVList call returns.
const KVListCap = 10000

// ListLimit returns the effective page size of ListOptions.Limit.
func ListLimit(n int) int {
	switch {
	case n <= 0:
		return 100
	case n > 1000:
		return 1000
	}
	return n
}
