package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/rivetkube/rivetkube/internal/store"
)

const recordVersion = 1

// record is the stored form of store.Actor; the key stays encoded.
type record struct {
	ID          string
	Namespace   string
	Name        string
	Key         []byte // store.EncodeKey form
	Pool        string
	CrashPolicy string
	Input       []byte // nil when none
	Generation  uint64
	RunnerID    string
	Initialized bool
	CreatedAt   int64 // unix nanoseconds; 0 = zero time
	StartedAt   int64
	SleepAt     int64
	DestroyedAt int64
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func (r *record) actor() (store.Actor, error) {
	key, err := store.DecodeKey(r.Key)
	if err != nil {
		return store.Actor{}, fmt.Errorf("actor %s: %w", r.ID, err)
	}
	return store.Actor{
		ID:          r.ID,
		Namespace:   r.Namespace,
		Name:        r.Name,
		Key:         key,
		Pool:        r.Pool,
		CrashPolicy: r.CrashPolicy,
		Input:       r.Input,
		Generation:  r.Generation,
		RunnerID:    r.RunnerID,
		Initialized: r.Initialized,
		CreatedAt:   fromNanos(r.CreatedAt),
		StartedAt:   fromNanos(r.StartedAt),
		SleepAt:     fromNanos(r.SleepAt),
		DestroyedAt: fromNanos(r.DestroyedAt),
	}, nil
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendString(b []byte, v string) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func (r *record) marshal() []byte {
	b := make([]byte, 0, 96+len(r.ID)+len(r.Namespace)+len(r.Name)+len(r.Key)+len(r.Pool)+len(r.CrashPolicy)+len(r.Input)+len(r.RunnerID))
	b = append(b, recordVersion)
	b = appendString(b, r.ID)
	b = appendString(b, r.Namespace)
	b = appendString(b, r.Name)
	b = appendBytes(b, r.Key)
	b = appendString(b, r.Pool)
	b = appendString(b, r.CrashPolicy)
	if r.Input == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendBytes(b, r.Input)
	}
	b = binary.AppendUvarint(b, r.Generation)
	b = appendString(b, r.RunnerID)
	if r.Initialized {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	for _, t := range []int64{r.CreatedAt, r.StartedAt, r.SleepAt, r.DestroyedAt} {
		b = binary.AppendVarint(b, t)
	}
	return b
}

var errCorrupt = errors.New("corrupt actor record")

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.err = errCorrupt
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// bytes returns a copy, so the result outlives the bbolt transaction.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
		return nil
	}
	v := make([]byte, n)
	copy(v, d.b)
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.bytes()) }

func unmarshalRecord(b []byte) (*record, error) {
	d := &decoder{b: b}
	if v := d.byte(); v != recordVersion {
		return nil, fmt.Errorf("actor record version %d: %w", v, errCorrupt)
	}
	r := &record{}
	r.ID = d.string()
	r.Namespace = d.string()
	r.Name = d.string()
	r.Key = d.bytes()
	r.Pool = d.string()
	r.CrashPolicy = d.string()
	if d.byte() == 1 {
		r.Input = d.bytes()
	}
	r.Generation = d.uvarint()
	r.RunnerID = d.string()
	r.Initialized = d.byte() == 1
	r.CreatedAt = d.varint()
	r.StartedAt = d.varint()
	r.SleepAt = d.varint()
	r.DestroyedAt = d.varint()
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	if d.err != nil {
		return nil, d.err
	}
	return r, nil
}

// keyIndexKey is the idx_key key of (ns, name, encoded key).
func keyIndexKey(ns, name string, encKey []byte) []byte {
	b := make([]byte, 0, 2*binary.MaxVarintLen64+len(ns)+len(name)+len(encKey))
	b = appendString(b, ns)
	b = appendString(b, name)
	return append(b, encKey...)
}

// listPrefix is the idx_list prefix of every actor of (ns, name).
func listPrefix(ns, name string) []byte {
	b := make([]byte, 0, 2*binary.MaxVarintLen64+len(ns)+len(name)+8+32)
	b = appendString(b, ns)
	return appendString(b, name)
}

// listSuffix is the (created, id) part of an idx_list key; it doubles as
// the list cursor.
func listSuffix(created int64, id string) []byte {
	b := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(b, uint64(created)^(1<<63)) // order-preserving for signed values
	return append(b, id...)
}

// listValue is the idx_list value: a destroyed flag and the encoded key, so
// list filters run without loading actor records.
func listValue(destroyed bool, encKey []byte) []byte {
	b := make([]byte, 1, 1+len(encKey))
	if destroyed {
		b[0] = 1
	}
	return append(b, encKey...)
}

// kvKey maps a user KV key to its stored key. The constant prefix byte lets
// the empty user key be stored (bbolt rejects empty keys) and keeps order.
func kvKey(k []byte) []byte {
	b := make([]byte, 1+len(k))
	b[0] = 'k'
	copy(b[1:], k)
	return b
}
