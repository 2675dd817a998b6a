package runner

import (
	"testing"

	"github.com/rivetkube/rivetkube/internal/store"
)

// TestQueueBufOutOfOrderAdds: two senders' store writes finish in one
// order and their adds run in the other; both messages must be delivered,
// in sequence order, and a duplicate add is ignored.
func TestQueueBufOutOfOrderAdds(t *testing.T) {
	t.Parallel()
	msg := func(seq uint64, name string) store.QueueMessage {
		return store.QueueMessage{Seq: seq, Name: name}
	}
	tests := []struct {
		name  string
		adds  [][]store.QueueMessage
		names []string
		want  []uint64
	}{
		{"in order", [][]store.QueueMessage{{msg(1, "a")}, {msg(2, "a")}}, nil, []uint64{1, 2}},
		{"out of order", [][]store.QueueMessage{{msg(2, "a")}, {msg(1, "a")}}, nil, []uint64{1, 2}},
		{"duplicate", [][]store.QueueMessage{{msg(1, "a"), msg(2, "a")}, {msg(2, "a")}}, nil, []uint64{1, 2}},
		{"filtered by name", [][]store.QueueMessage{{msg(3, "b")}, {msg(1, "a")}, {msg(2, "b")}}, []string{"b"}, []uint64{2, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b queueBuf
			for _, ms := range tc.adds {
				b.add(ms...)
			}
			var got []uint64
			for {
				m, _ := b.take(tc.names)
				if m == nil {
					break
				}
				got = append(got, m.Seq)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("took %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("took %v, want %v", got, tc.want)
				}
			}
		})
	}
	// A message put back after a failed acquire keeps its place.
	var b queueBuf
	b.add(msg(1, "a"), msg(2, "b"), msg(3, "a"))
	m, _ := b.take([]string{"b"})
	b.putBack(m)
	if first, _ := b.take(nil); first.Seq != 1 {
		t.Fatalf("after putBack the first message is %d, want 1", first.Seq)
	}
}
