package rivet

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"time"

	"github.com/rivetkube/rivetkube/runner"
)

// Options configures an actor definition. Every hook is optional. Hooks run
// one at a time on the actor's mailbox, like actions.
type Options[S any] struct {
	// CreateState returns the initial state the first time the actor runs,
	// given the input it was created with. Without it the state starts as
	// the zero S.
	CreateState func(c *Ctx[S], input Raw) (S, error)
	// CreateVars returns the ephemeral vars each time an instance starts.
	CreateVars func(c *Ctx[S]) (any, error)

	OnCreate      func(c *Ctx[S], input Raw) error
	OnWake        func(c *Ctx[S]) error
	OnSleep       func(c *Ctx[S]) error
	OnDestroy     func(c *Ctx[S]) error
	OnStateChange func(c *Ctx[S])

	// OnBeforeConnect may reject a connection (or an HTTP action carrying
	// connection params) by returning an error; a UserError reaches the
	// client with its code.
	OnBeforeConnect func(c *Ctx[S], params Raw) error
	// CreateConnState returns the per-connection state.
	CreateConnState func(c *Ctx[S], params Raw) (any, error)
	OnConnect       func(c *Ctx[S], conn *Conn)
	OnDisconnect    func(c *Ctx[S], conn *Conn)

	// OnRequest serves raw HTTP sent to /request/... of the actor.
	OnRequest func(c *Ctx[S], w http.ResponseWriter, r *http.Request)
	// OnWebSocket takes a raw WebSocket opened at /websocket/... of the
	// actor. Register message handlers on ws; they run on the mailbox.
	OnWebSocket func(c *Ctx[S], ws *WebSocket)
	// OnBeforeActionResponse may replace an action's output.
	OnBeforeActionResponse func(c *Ctx[S], action string, args Args, output any) (any, error)

	// Run is the actor's background loop: it starts after onWake and its
	// context ends when the actor sleeps, is drained or shuts down. It holds
	// the actor (as an action does) except while it waits in Queue.Next. An
	// actor with messages waiting for Run does not sleep.
	Run func(c *Ctx[S], q *Queue) error
	// Workflow runs as the actor's Run loop, durably: see Workflow. Set
	// Run or Workflow, not both.
	Workflow func(w *Workflow[S]) error
	// Queues names the durable queues clients and other actors may send to.
	Queues []string
	// MaxQueueSize bounds the messages waiting in the actor's queues
	// (default 1,000); a send beyond it fails with actor/overloaded.
	MaxQueueSize int

	// SleepTimeout is how long the actor stays awake with no connections and
	// no work. Zero means the engine default (30 s).
	SleepTimeout time.Duration
	// NoSleep keeps the actor awake until it is destroyed or drained.
	NoSleep bool
	// ActionTimeout bounds one action. Zero means the engine default (60 s).
	ActionTimeout time.Duration
	// Migrate are the migrations of the actor's SQL database (c.DB()), in
	// order; append only. At activation, before OnWake, the ones the
	// database has not run yet run, each once (see DB).
	Migrate []string
}

// Actor is an actor definition with state type S. Build one with New, add
// actions with Action, and register it with a Registry.
type Actor[S any] struct {
	name    string
	opts    Options[S]
	actions map[string]*actionDef
}

// New defines an actor named name (the name clients use, e.g. "counter").
func New[S any](name string, opts Options[S]) *Actor[S] {
	if name == "" {
		panic("rivet: actor name must not be empty")
	}
	return &Actor[S]{name: name, opts: opts, actions: map[string]*actionDef{}}
}

// Name returns the actor's name.
func (a *Actor[S]) Name() string { return a.name }

var (
	errorType   = reflect.TypeFor[error]()
	contextType = reflect.TypeFor[context.Context]()
)

// Action adds an action. fn must be a function whose first parameter is
// *Ctx[S], followed by any number of typed arguments decoded from the
// client's positional arguments, returning either (R, error) or error.
// Action panics on any other shape, at registration.
//
//	counter.Action("increment", func(c *rivet.Ctx[State], amount int) (int, error) { ... })
func (a *Actor[S]) Action(name string, fn any) *Actor[S] {
	if name == "" {
		panic("rivet: action name must not be empty")
	}
	if _, dup := a.actions[name]; dup {
		panic(fmt.Sprintf("rivet: action %q of actor %q registered twice", name, a.name))
	}
	v := reflect.ValueOf(fn)
	t := v.Type()
	if t.Kind() != reflect.Func {
		panic(fmt.Sprintf("rivet: action %q: want a func, got %s", name, t))
	}
	if t.NumIn() < 1 || t.In(0) != reflect.TypeFor[*Ctx[S]]() {
		panic(fmt.Sprintf("rivet: action %q: first parameter must be *rivet.Ctx[%s]", name, reflect.TypeFor[S]()))
	}
	if t.IsVariadic() {
		panic(fmt.Sprintf("rivet: action %q: variadic actions are not supported; take rivet.Args instead", name))
	}
	def := &actionDef{name: name, fn: v}
	for i := 1; i < t.NumIn(); i++ {
		def.argTypes = append(def.argTypes, t.In(i))
	}
	switch {
	case t.NumOut() == 1 && t.Out(0) == errorType:
	case t.NumOut() == 2 && t.Out(1) == errorType:
		def.hasResult = true
	default:
		panic(fmt.Sprintf("rivet: action %q: must return (R, error) or error", name))
	}
	a.actions[name] = def
	return a
}

type actionDef struct {
	name      string
	fn        reflect.Value
	argTypes  []reflect.Type
	hasResult bool
}

var argsType = reflect.TypeFor[Args]()

// call decodes args into the declared parameter types and invokes fn.
func (d *actionDef) call(ctx reflect.Value, args Args) (any, error) {
	in := make([]reflect.Value, 0, 1+len(d.argTypes))
	in = append(in, ctx)
	for i, t := range d.argTypes {
		if t == argsType && i == len(d.argTypes)-1 {
			rest := Args(nil)
			if i < len(args) {
				rest = args[i:]
			}
			in = append(in, reflect.ValueOf(rest))
			continue
		}
		p := reflect.New(t)
		if i < len(args) {
			if err := Unmarshal(args[i], p.Interface()); err != nil {
				return nil, runner.InvalidArgument(fmt.Sprintf("argument %d of %s: %v", i, d.name, err))
			}
		}
		in = append(in, p.Elem())
	}
	out := d.fn.Call(in)
	errV := out[len(out)-1]
	var err error
	if !errV.IsNil() {
		err = errV.Interface().(error)
	}
	if d.hasResult {
		return out[0].Interface(), err
	}
	return nil, err
}

// Config is the part of the options the runtime enforces.
func (a *Actor[S]) Config() runner.ActorConfig {
	return runner.ActorConfig{
		SleepTimeout:  a.opts.SleepTimeout,
		NoSleep:       a.opts.NoSleep,
		ActionTimeout: a.opts.ActionTimeout,
		HasDestroy:    a.opts.OnDestroy != nil,
		Queues:        a.opts.Queues,
		MaxQueue:      a.opts.MaxQueueSize,
		Migrate:       a.opts.Migrate,
	}
}

func (a *Actor[S]) sealed() {}
