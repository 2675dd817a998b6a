package rivet

import (
	"github.com/rivetkube/rivetkube/runner"
	"github.com/rivetkube/rivetkube/runner/local"
)

// The SDK's value types are the runtime's: an alias keeps one definition
// and lets a user's code pass them through unchanged (the approach of
// Temporal's Go SDK, whose public packages alias internal types).

type (
	// Raw is a CBOR-encoded value the actor decodes itself (input, params,
	// message bodies).
	Raw = runner.Raw
	// Args are an action's positional arguments, each CBOR-encoded.
	Args = runner.Args
	// Conn is a client connection to an actor: a WebSocket opened with
	// connect(), or the short-lived connection of an HTTP action that
	// carried connection params.
	Conn = runner.Conn
	// KV is the actor's key/value space; writes commit with the task.
	KV = runner.KV
	// Pair is one key and value of a KV listing.
	Pair = runner.Pair
	// ListOptions bounds and orders a KV listing.
	ListOptions = runner.ListOptions
	// Queue is the Run loop's view of the actor's durable queues.
	Queue = runner.Queue
	// Message is a durable queue message taken by Queue.Next.
	Message = runner.Message
	// WebSocket is a raw WebSocket given to OnWebSocket.
	WebSocket = runner.WebSocket
	// Scheduler schedules durable calls of the actor's own actions.
	Scheduler = runner.Scheduler
	// ScheduledCall is a pending scheduled call.
	ScheduledCall = runner.ScheduledCall
	// UserError is an error meant for the client: its code, message and
	// metadata reach the client as group "user". Any other error an action
	// returns is masked as actor/internal_error and only logged.
	UserError = runner.UserError
	// Limits bound what an actor may do (timeouts, sizes, queue lengths).
	Limits = runner.Limits
	// EngineConfig configures the local engine (see ConfigFromEnv).
	EngineConfig = local.Config
	// LocalEngine is a running local engine: gateway, runtime and embedded
	// store.
	LocalEngine = local.Engine
	// RunnerConfig configures runner mode (see RunnerConfigFromEnv).
	RunnerConfig = runner.Config
)

// MaxSchedules bounds the pending scheduled calls of one actor.
const MaxSchedules = runner.MaxSchedules

// NewUserError returns a UserError with a code, message and optional metadata.
func NewUserError(code, message string, metadata any) *UserError {
	return runner.NewUserError(code, message, metadata)
}

// Marshal encodes v as deterministic CBOR, the encoding of states,
// arguments and outputs inside the engine.
func Marshal(v any) ([]byte, error) { return runner.Marshal(v) }

// Unmarshal decodes CBOR data into v.
func Unmarshal(data []byte, v any) error { return runner.Unmarshal(data, v) }

// ConfigFromEnv reads the local engine configuration from the environment.
func ConfigFromEnv() (EngineConfig, error) { return local.ConfigFromEnv() }

// RunnerConfigFromEnv reads runner mode's configuration.
func RunnerConfigFromEnv() (RunnerConfig, error) { return runner.ConfigFromEnv() }
