package store

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
