package store

import (
	"errors"
	"fmt"
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
	return nil
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
