package runner

import (
	"context"
	"net/http"
	"slices"
	"time"
)

// Behavior is the untyped contract between the runtime and an actor's code:
// names in, canonical CBOR in and out. The typed SDK (package rivet)
// implements it for each Actor[S]; the runtime knows nothing of a user's Go
// types. Every method runs on the actor's mailbox, one at a time.
type Behavior interface {
	// Create runs createState and onCreate the first time the actor runs.
	Create(ctx context.Context, input []byte) error
	// Load replaces the in-memory state with the committed bytes.
	Load(state []byte) error
	// EncodeState returns the state as deterministic CBOR.
	EncodeState() ([]byte, error)
	Wake(ctx context.Context) error
	Sleep(ctx context.Context) error
	Destroy(ctx context.Context) error
	HasStateChange() bool
	StateChanged(ctx context.Context)
	HasAction(name string) bool
	ActionNames() []string
	Action(ctx context.Context, conn *Conn, name string, args Args) (any, error)
	HasBeforeResponse() bool
	BeforeResponse(ctx context.Context, name string, args Args, out any) (any, error)
	BeforeConnect(ctx context.Context, params Raw) error
	CreateConnState(ctx context.Context, params Raw) (any, error)
	Connected(ctx context.Context, c *Conn)
	Disconnected(ctx context.Context, c *Conn)
	HasRun() bool
	Run(ctx context.Context, q *Queue) error
	// Request serves a raw HTTP request; false when the actor has no handler.
	Request(ctx context.Context, w http.ResponseWriter, r *http.Request) bool
	// WebSocket takes a raw WebSocket; false when the actor has no handler.
	WebSocket(ctx context.Context, ws *WebSocket) bool
}

// Definition is an actor definition the runtime hosts: a name, its
// configuration, and a Behavior per instance.
type Definition interface {
	Name() string
	Config() ActorConfig
	NewBehavior(in *Instance) Behavior
}

// ActorConfig is the part of an actor's options the runtime enforces.
type ActorConfig struct {
	SleepTimeout  time.Duration
	NoSleep       bool
	ActionTimeout time.Duration
	HasDestroy    bool
	Queues        []string
	MaxQueue      int
	// Migrate are the SQL database's migrations, in order (see runner/db.go).
	Migrate []string
}

func (c ActorConfig) hasQueue(name string) bool { return slices.Contains(c.Queues, name) }
