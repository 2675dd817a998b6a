package rivet

import (
	"context"
	"net/http"
	"reflect"
	"sort"

	"github.com/rivetkube/rivetkube/runner"
)

// typed adapts an Actor[S] to the runtime's untyped runner.Behavior: it
// owns the decoded state S of one instance and builds the Ctx[S] each hook
// and action receives.
type typed[S any] struct {
	a     *Actor[S]
	in    *runner.Instance
	state S
}

// NewBehavior returns the behavior of one instance of the actor.
func (a *Actor[S]) NewBehavior(in *runner.Instance) runner.Behavior { return &typed[S]{a: a, in: in} }

func (t *typed[S]) ctx(ctx context.Context, conn *Conn) *Ctx[S] {
	return &Ctx[S]{Context: ctx, in: t.in, st: &t.state, conn: conn}
}

func (t *typed[S]) Create(ctx context.Context, input []byte) error {
	o := &t.a.opts
	if o.CreateState != nil {
		s, err := o.CreateState(t.ctx(ctx, nil), Raw(input))
		if err != nil {
			return err
		}
		t.state = s
	}
	if o.OnCreate != nil {
		return o.OnCreate(t.ctx(ctx, nil), Raw(input))
	}
	return nil
}

func (t *typed[S]) Load(state []byte) error {
	var s S
	if len(state) > 0 {
		if err := Unmarshal(state, &s); err != nil {
			return err
		}
	}
	t.state = s
	return nil
}

func (t *typed[S]) EncodeState() ([]byte, error) { return Marshal(t.state) }

func (t *typed[S]) Wake(ctx context.Context) error {
	o := &t.a.opts
	if o.CreateVars != nil {
		v, err := o.CreateVars(t.ctx(ctx, nil))
		if err != nil {
			return err
		}
		t.in.SetVars(v)
	}
	if o.OnWake != nil {
		return o.OnWake(t.ctx(ctx, nil))
	}
	return nil
}

func (t *typed[S]) Sleep(ctx context.Context) error {
	if t.a.opts.OnSleep != nil {
		return t.a.opts.OnSleep(t.ctx(ctx, nil))
	}
	return nil
}

func (t *typed[S]) Destroy(ctx context.Context) error {
	if t.a.opts.OnDestroy != nil {
		return t.a.opts.OnDestroy(t.ctx(ctx, nil))
	}
	return nil
}

func (t *typed[S]) HasStateChange() bool { return t.a.opts.OnStateChange != nil }

func (t *typed[S]) StateChanged(ctx context.Context) { t.a.opts.OnStateChange(t.ctx(ctx, nil)) }

func (t *typed[S]) HasAction(name string) bool { _, ok := t.a.actions[name]; return ok }

func (t *typed[S]) ActionNames() []string {
	out := make([]string, 0, len(t.a.actions))
	for n := range t.a.actions {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (t *typed[S]) Action(ctx context.Context, conn *Conn, name string, args Args) (any, error) {
	return t.a.actions[name].call(reflect.ValueOf(t.ctx(ctx, conn)), args)
}

func (t *typed[S]) HasBeforeResponse() bool { return t.a.opts.OnBeforeActionResponse != nil }

func (t *typed[S]) BeforeResponse(ctx context.Context, name string, args Args, out any) (any, error) {
	return t.a.opts.OnBeforeActionResponse(t.ctx(ctx, nil), name, args, out)
}

func (t *typed[S]) BeforeConnect(ctx context.Context, params Raw) error {
	if t.a.opts.OnBeforeConnect != nil {
		return t.a.opts.OnBeforeConnect(t.ctx(ctx, nil), params)
	}
	return nil
}

func (t *typed[S]) CreateConnState(ctx context.Context, params Raw) (any, error) {
	if t.a.opts.CreateConnState != nil {
		return t.a.opts.CreateConnState(t.ctx(ctx, nil), params)
	}
	return nil, nil
}

func (t *typed[S]) Connected(ctx context.Context, c *Conn) {
	if t.a.opts.OnConnect != nil {
		t.a.opts.OnConnect(t.ctx(ctx, c), c)
	}
}

func (t *typed[S]) Disconnected(ctx context.Context, c *Conn) {
	if t.a.opts.OnDisconnect != nil {
		t.a.opts.OnDisconnect(t.ctx(ctx, c), c)
	}
}

func (t *typed[S]) HasRun() bool { return t.a.opts.Run != nil || t.a.opts.Workflow != nil }

func (t *typed[S]) Run(ctx context.Context, q *Queue) error {
	if t.a.opts.Workflow != nil {
		return runWorkflow(t, ctx, q)
	}
	return t.a.opts.Run(t.ctx(ctx, nil), q)
}

func (t *typed[S]) Request(ctx context.Context, w http.ResponseWriter, r *http.Request) bool {
	if t.a.opts.OnRequest == nil {
		return false
	}
	t.a.opts.OnRequest(t.ctx(ctx, nil), w, r)
	return true
}

func (t *typed[S]) WebSocket(ctx context.Context, ws *WebSocket) bool {
	if t.a.opts.OnWebSocket == nil {
		return false
	}
	t.a.opts.OnWebSocket(t.ctx(ctx, nil), ws)
	return true
}
