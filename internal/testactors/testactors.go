// Package testactors holds the actors the end-to-end suites and benchmarks
// drive, beside the quickstart actors. test/js/README.md documents the
// contract each one keeps.
package testactors

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rivetkube/rivetkube/examples/quickstart/actors"
	"github.com/rivetkube/rivetkube/rivet"
)

type none struct{}

// Echo returns what it is given.
var Echo = rivet.New("echo", rivet.Options[none]{}).
	Action("echo", func(c *rivet.Ctx[none], v rivet.Raw) (rivet.Raw, error) { return v, nil }).
	Action("echoArgs", func(c *rivet.Ctx[none], args rivet.Args) (rivet.Args, error) {
		if args == nil {
			args = rivet.Args{}
		}
		return args, nil
	}).
	Action("slow", func(c *rivet.Ctx[none], ms int64) (int64, error) {
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			return ms, nil
		case <-c.Done():
			return 0, c.Err()
		}
	}).
	Action("failInternal", func(c *rivet.Ctx[none]) error {
		return errors.New("database password is hunter2") // must never reach a client
	})

// GuardedParams are the connection params guarded expects.
type GuardedParams struct {
	Token string `cbor:"token"`
	Name  string `cbor:"name"`
}

// GuardedConn is guarded's per-connection state.
type GuardedConn struct {
	Name string `cbor:"name"`
}

// Guarded authenticates connections in onBeforeConnect.
var Guarded = rivet.New("guarded", rivet.Options[none]{
	OnBeforeConnect: func(c *rivet.Ctx[none], params rivet.Raw) error {
		var p GuardedParams
		if err := params.Decode(&p); err != nil || p.Token != "secret" {
			return rivet.NewUserError("forbidden", "Invalid token", nil)
		}
		return nil
	},
	CreateConnState: func(c *rivet.Ctx[none], params rivet.Raw) (any, error) {
		var p GuardedParams
		if err := params.Decode(&p); err != nil {
			return nil, err
		}
		return GuardedConn{Name: p.Name}, nil
	},
}).
	Action("whoAmI", func(c *rivet.Ctx[none]) (string, error) {
		if c.Conn() == nil {
			return "", rivet.NewUserError("no_connection", "No connection", nil)
		}
		return c.Conn().State().(GuardedConn).Name, nil
	}).
	Action("connCount", func(c *rivet.Ctx[none]) (int, error) { return len(c.Conns()), nil })

// SleepyState counts wakes and sleeps.
type SleepyState struct {
	Count  int64 `cbor:"count"`
	Wakes  int64 `cbor:"wakes"`
	Sleeps int64 `cbor:"sleeps"`
}

// Sleepy sleeps after 300 ms idle and counts its wakes and sleeps.
var Sleepy = rivet.New("sleepy", rivet.Options[SleepyState]{
	SleepTimeout: 300 * time.Millisecond,
	OnWake:       func(c *rivet.Ctx[SleepyState]) error { c.State().Wakes++; return nil },
	OnSleep:      func(c *rivet.Ctx[SleepyState]) error { c.State().Sleeps++; return nil },
}).
	Action("increment", func(c *rivet.Ctx[SleepyState]) (int64, error) {
		c.State().Count++
		return c.State().Count, nil
	}).
	Action("getState", func(c *rivet.Ctx[SleepyState]) (SleepyState, error) { return *c.State(), nil })

// LifecycleState holds any value.
type LifecycleState struct {
	Value rivet.Raw `cbor:"value"`
}

// Lifecycle can destroy itself.
var Lifecycle = rivet.New("lifecycle", rivet.Options[LifecycleState]{}).
	Action("setValue", func(c *rivet.Ctx[LifecycleState], v rivet.Raw) error {
		c.State().Value = v
		return nil
	}).
	Action("getValue", func(c *rivet.Ctx[LifecycleState]) (rivet.Raw, error) { return c.State().Value, nil }).
	Action("destroySelf", func(c *rivet.Ctx[LifecycleState]) error {
		c.Destroy()
		return nil
	})

// RawHTTP answers raw HTTP and echoes raw WebSocket messages.
var RawHTTP = rivet.New("rawHttp", rivet.Options[none]{
	OnRequest: func(c *rivet.Ctx[none], w http.ResponseWriter, r *http.Request) {
		if code, ok := strings.CutPrefix(r.URL.Path, "/status/"); ok {
			n, err := strconv.Atoi(code)
			if err != nil || n < 200 || n > 599 {
				http.Error(w, "bad status", http.StatusBadRequest)
				return
			}
			w.WriteHeader(n)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery, "body": string(body),
		})
	},
	OnWebSocket: func(c *rivet.Ctx[none], ws *rivet.WebSocket) {
		ws.OnMessage(func(binary bool, data []byte) { ws.Send(binary, data) })
	},
})

// KV exposes the actor KV with string keys and values.
var KV = rivet.New("kv", rivet.Options[none]{}).
	Action("put", func(c *rivet.Ctx[none], k, v string) error { return c.KV().Put([]byte(k), []byte(v)) }).
	Action("get", func(c *rivet.Ctx[none], k string) (*string, error) {
		v, err := c.KV().Get([]byte(k))
		if err != nil || v == nil {
			return nil, err
		}
		s := string(v)
		return &s, nil
	}).
	Action("del", func(c *rivet.Ctx[none], k string) error { return c.KV().Delete([]byte(k)) }).
	Action("list", func(c *rivet.Ctx[none], prefix string) ([][2]string, error) {
		ps, err := c.KV().ListPrefix([]byte(prefix), rivet.ListOptions{})
		return pairs(ps), err
	}).
	Action("range", func(c *rivet.Ctx[none], start, end string) ([][2]string, error) {
		ps, err := c.KV().ListRange([]byte(start), []byte(end), rivet.ListOptions{})
		return pairs(ps), err
	})

func pairs(ps []rivet.Pair) [][2]string {
	out := make([][2]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, [2]string{string(p.Key), string(p.Value)})
	}
	return out
}

// Register adds the quickstart actors and every test actor to r.
func Register(r *rivet.Registry) *rivet.Registry {
	return actors.Register(r).Register(Echo, Guarded, Sleepy, Lifecycle, RawHTTP, KV, Locate, Worker, Timer, Caller, Flow, Agent, Waiter, RequestEcho, SQLBank)
}
