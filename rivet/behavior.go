package rivet

import (
	"context"
	"net/http"
	"reflect"
	"sort"
)

// behavior is the typed side of an instance, built by Actor[S].
type behavior interface {
	create(ctx context.Context, input []byte) error
	load(state []byte) error
	encodeState() ([]byte, error)
	wake(ctx context.Context) error
	sleep(ctx context.Context) error
	destroy(ctx context.Context) error
	hasStateChange() bool
	stateChanged(ctx context.Context)
	hasAction(name string) bool
	actionNames() []string
	action(ctx context.Context, conn *Conn, name string, args Args) (any, error)
	hasBeforeResponse() bool
	beforeResponse(ctx context.Context, name string, args Args, out any) (any, error)
	beforeConnect(ctx context.Context, params Raw) error
	createConnState(ctx context.Context, params Raw) (any, error)
	connected(ctx context.Context, c *Conn)
	disconnected(ctx context.Context, c *Conn)
	hasRun() bool
	run(ctx context.Context, q *Queue) error
	request(ctx context.Context, w http.ResponseWriter, r *http.Request) bool
	websocket(ctx context.Context, ws *WebSocket) bool
}

type typed[S any] struct {
	a     *Actor[S]
	in    *instance
	state S
}

func (a *Actor[S]) newBehavior(in *instance) behavior { return &typed[S]{a: a, in: in} }

func (t *typed[S]) ctx(ctx context.Context, conn *Conn) *Ctx[S] {
	return &Ctx[S]{Context: ctx, in: t.in, st: &t.state, conn: conn}
}

func (t *typed[S]) create(ctx context.Context, input []byte) error {
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

func (t *typed[S]) load(state []byte) error {
	var s S
	if len(state) > 0 {
		if err := Unmarshal(state, &s); err != nil {
			return err
		}
	}
	t.state = s
	return nil
}

func (t *typed[S]) encodeState() ([]byte, error) { return Marshal(t.state) }

func (t *typed[S]) wake(ctx context.Context) error {
	o := &t.a.opts
	if o.CreateVars != nil {
		v, err := o.CreateVars(t.ctx(ctx, nil))
		if err != nil {
			return err
		}
		t.in.vars = v
	}
	if o.OnWake != nil {
		return o.OnWake(t.ctx(ctx, nil))
	}
	return nil
}

func (t *typed[S]) sleep(ctx context.Context) error {
	if t.a.opts.OnSleep != nil {
		return t.a.opts.OnSleep(t.ctx(ctx, nil))
	}
	return nil
}

func (t *typed[S]) destroy(ctx context.Context) error {
	if t.a.opts.OnDestroy != nil {
		return t.a.opts.OnDestroy(t.ctx(ctx, nil))
	}
	return nil
}

func (t *typed[S]) hasStateChange() bool { return t.a.opts.OnStateChange != nil }

func (t *typed[S]) stateChanged(ctx context.Context) { t.a.opts.OnStateChange(t.ctx(ctx, nil)) }

func (t *typed[S]) hasAction(name string) bool { _, ok := t.a.actions[name]; return ok }

func (t *typed[S]) actionNames() []string {
	out := make([]string, 0, len(t.a.actions))
	for n := range t.a.actions {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (t *typed[S]) action(ctx context.Context, conn *Conn, name string, args Args) (any, error) {
	return t.a.actions[name].call(reflect.ValueOf(t.ctx(ctx, conn)), args)
}

func (t *typed[S]) hasBeforeResponse() bool { return t.a.opts.OnBeforeActionResponse != nil }

func (t *typed[S]) beforeResponse(ctx context.Context, name string, args Args, out any) (any, error) {
	return t.a.opts.OnBeforeActionResponse(t.ctx(ctx, nil), name, args, out)
}

func (t *typed[S]) beforeConnect(ctx context.Context, params Raw) error {
	if t.a.opts.OnBeforeConnect != nil {
		return t.a.opts.OnBeforeConnect(t.ctx(ctx, nil), params)
	}
	return nil
}

func (t *typed[S]) createConnState(ctx context.Context, params Raw) (any, error) {
	if t.a.opts.CreateConnState != nil {
		return t.a.opts.CreateConnState(t.ctx(ctx, nil), params)
	}
	return nil, nil
}

func (t *typed[S]) connected(ctx context.Context, c *Conn) {
	if t.a.opts.OnConnect != nil {
		t.a.opts.OnConnect(t.ctx(ctx, c), c)
	}
}

func (t *typed[S]) disconnected(ctx context.Context, c *Conn) {
	if t.a.opts.OnDisconnect != nil {
		t.a.opts.OnDisconnect(t.ctx(ctx, c), c)
	}
}

func (t *typed[S]) hasRun() bool { return t.a.opts.Run != nil || t.a.opts.Workflow != nil }

func (t *typed[S]) run(ctx context.Context, q *Queue) error {
	if t.a.opts.Workflow != nil {
		return runWorkflow(t, ctx, q)
	}
	return t.a.opts.Run(t.ctx(ctx, nil), q)
}

func (t *typed[S]) request(ctx context.Context, w http.ResponseWriter, r *http.Request) bool {
	if t.a.opts.OnRequest == nil {
		return false
	}
	t.a.opts.OnRequest(t.ctx(ctx, nil), w, r)
	return true
}

func (t *typed[S]) websocket(ctx context.Context, ws *WebSocket) bool {
	if t.a.opts.OnWebSocket == nil {
		return false
	}
	t.a.opts.OnWebSocket(t.ctx(ctx, nil), ws)
	return true
}
