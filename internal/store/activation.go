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

// ActivationLoader is implemented by stores that read an Activation in one
// round trip from one consistent snapshot.
type ActivationLoader interface {
	// LoadActivation returns the actor's row and, unless it is destroyed,
	// its first queueLimit queued messages (limit as ListQueue), schedules
	// and state. ErrNotFound for an unknown actor; for a destroyed one the
	// row alone and no error (callers check Actor.Destroyed).
	LoadActivation(ctx context.Context, id string, queueLimit int) (Activation, error)
}

// LoadActivation reads what an instance needs at activation: in one round
// trip when st implements ActivationLoader, otherwise with GetActor,
// ListQueue, ListSchedules and the row's state (unfenced, by the
// generation just read).
func LoadActivation(ctx context.Context, st Store, id string, queueLimit int) (Activation, error) {
	if l, ok := st.(ActivationLoader); ok {
		return l.LoadActivation(ctx, id, queueLimit)
	}
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
