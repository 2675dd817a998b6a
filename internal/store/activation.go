package store

import (
	"context"
	"errors"
)

// Activation is what an instance reads when it starts: its directory row,
// the first page of its queue, its schedules and its committed state.
type Activation struct {
	Actor Actor
	// Queue holds up to the requested limit of queued messages in Seq
	// order; when it is full more may follow (read them with ListQueue).
	Queue     []QueueMessage
	Schedules []Schedule // ordered as ListSchedules
	State     []byte     // committed state; nil when none
}

// ReadActivation reads what an instance needs at activation with GetActor,
// ListQueue, ListSchedules and the row's state (unfenced, by the
// generation just read): Instances.LoadActivation of a backend that has no
// cheaper way (the embedded store, where reads are local).
func ReadActivation(ctx context.Context, st interface {
	Directory
	Instances
	Queues
}, id string, queueLimit int) (Activation, error) {
	a, err := st.GetActor(ctx, id)
	if err != nil || a.Destroyed() {
		return Activation{Actor: a}, err
	}
	out := Activation{Actor: a}
	if out.Queue, err = st.ListQueue(ctx, id, 0, nil, queueLimit); err != nil {
		return out, err
	}
	if out.Schedules, err = st.ListSchedules(ctx, id); err != nil {
		return out, err
	}
	if a.Initialized {
		out.State, err = st.LoadState(ctx, id, a.Generation)
		if errors.Is(err, ErrFenced) {
			// Moved on since the read: the caller's generation check fails
			// on the next read; report the row as read.
			err = nil
		}
	}
	return out, err
}
