package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/protocol"
)

// The inspector is a JSON HTTP API over one live actor, served under
// /gateway/{actor}/inspector/. Every endpoint runs on the actor's mailbox,
// so it sees a consistent state. The gateway checks the token.

// span is one recorded action or step, kept in a bounded ring per instance.
type span struct {
	Name   string
	Kind   string // "action", "schedule", "step"
	Start  time.Time
	End    time.Time
	Err    string
	SpanID string
}

const maxSpans = 1000

// traceRing keeps the most recent spans of an instance. It grows with the
// spans recorded, up to maxSpans (about 80 KiB), so an actor that ran a
// few actions keeps a few spans, not a full ring. Spans are kept compact
// (times as Unix nanoseconds, ids as bytes, hex only when listed): most
// awake actors keep one or two.
type traceRing struct {
	mu       sync.Mutex
	spans    []spanRec // len == next until the ring is full
	next     int32
	full     bool
	hasTrace bool
	trace    [16]byte
}

// spanRec is a span as the ring keeps it.
type spanRec struct {
	name, kind, err string
	start, end      int64 // Unix nanoseconds
	id              [8]byte
}

func (t *traceRing) add(s span) {
	r := spanRec{
		// The name may point into a request's buffers (an action's name is
		// a slice of its URL): a copy keeps the ring from holding the
		// request.
		name: strings.Clone(s.Name), kind: s.Kind, err: s.Err,
		start: s.Start.UnixNano(), end: s.End.UnixNano(),
	}
	_, _ = rand.Read(r.id[:])
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.hasTrace {
		_, _ = rand.Read(t.trace[:])
		t.hasTrace = true
	}
	if len(t.spans) < maxSpans {
		t.spans = append(t.spans, r)
	} else {
		t.spans[t.next] = r
	}
	t.next = (t.next + 1) % maxSpans
	if t.next == 0 {
		t.full = true
	}
}

func (t *traceRing) list(from, to time.Time, limit int) ([]span, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := int(t.next)
	if t.full {
		n = maxSpans
	}
	var out []span
	for i := 0; i < n; i++ {
		r := &t.spans[(int(t.next)-1-i+maxSpans)%maxSpans]
		s := span{Name: r.name, Kind: r.kind, Err: r.err, Start: time.Unix(0, r.start), End: time.Unix(0, r.end), SpanID: hex.EncodeToString(r.id[:])}
		if (!from.IsZero() && s.End.Before(from)) || (!to.IsZero() && s.Start.After(to)) {
			continue
		}
		out = append(out, s)
		if len(out) >= limit {
			break
		}
	}
	trace := ""
	if t.hasTrace {
		trace = hex.EncodeToString(t.trace[:])
	}
	return out, trace
}

// Inspect implements hostapi.Host.
func (rt *Runtime) Inspect(ctx context.Context, t hostapi.Target, w http.ResponseWriter, r *http.Request) error {
	return rt.withInstance(ctx, t, func(in *Instance) error {
		return in.inspect(ctx, w, r)
	})
}

// maxInspectorBody bounds PATCH state and POST action bodies.
const maxInspectorBody = 4 << 20

func (in *Instance) inspect(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	path := strings.Trim(r.URL.Path, "/")
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, maxInspectorBody+1))
		if err != nil {
			return errs.Malformed("reading body: %v", err)
		}
		if len(b) > maxInspectorBody {
			return errs.IncomingTooLong(maxInspectorBody)
		}
		body = b
	}
	type result struct {
		status int
		v      any
		err    error
	}
	res := make(chan result, 1)
	err := in.enqueue(task{
		run: func() {
			status, v, err := in.inspectOnMailbox(ctx, r.Method, path, r.URL.Query(), body)
			_, ferr := in.flush()
			if err == nil && ferr != nil {
				err = ferr
			}
			in.pump.push(in.gate, []delivery{{fn: func(gerr error) {
				if gerr != nil {
					res <- result{err: errs.FromStore(gerr)}
					return
				}
				res <- result{status, v, err}
			}}})
		},
		abort: func(e error) { res <- result{err: e} },
	})
	if err != nil {
		return err
	}
	select {
	case r := <-res:
		if r.err != nil {
			return r.err
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(r.status)
		return json.NewEncoder(w).Encode(r.v)
	case <-ctx.Done():
		return errs.ActionTimedOut()
	}
}

// jsonValue renders canonical CBOR as JSON for the inspector.
func jsonValue(v []byte) json.RawMessage {
	if len(v) == 0 {
		return json.RawMessage("null")
	}
	j, err := protocol.ValueToJSON(v)
	if err != nil {
		return json.RawMessage("null")
	}
	return j
}

func (in *Instance) inspectOnMailbox(ctx context.Context, method, path string, q map[string][]string, body []byte) (int, any, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	switch {
	case method == http.MethodGet && path == "summary":
		st, _ := in.beh.EncodeState()
		wf, _ := in.workflowStatus(ctx)
		return http.StatusOK, map[string]any{
			"actorId": in.id, "name": in.def.Name(), "key": in.key, "generation": in.gen,
			"state": jsonValue(st), "connections": in.connInfo(), "actions": in.beh.ActionNames(),
			"queueSize": in.queue.len(), "schedules": len(in.schedules), "workflow": wf,
		}, nil
	case method == http.MethodGet && path == "state":
		st, err := in.beh.EncodeState()
		if err != nil {
			return 0, nil, errs.Internal()
		}
		return http.StatusOK, map[string]any{"state": jsonValue(st)}, nil
	case method == http.MethodPatch && path == "state":
		var b struct {
			State json.RawMessage `json:"state"`
		}
		if err := json.Unmarshal(body, &b); err != nil || len(b.State) == 0 {
			return 0, nil, errs.Malformed(`PATCH state wants {"state": <value>}`)
		}
		v, err := protocol.JSONToValue(b.State)
		if err != nil {
			return 0, nil, errs.Malformed("state: %v", err)
		}
		if err := in.beh.Load(v); err != nil {
			in.rollbackState()
			return 0, nil, errs.InvalidRequest("state does not fit the actor's state type: %v", err)
		}
		st, _ := in.beh.EncodeState()
		return http.StatusOK, map[string]any{"state": jsonValue(st)}, nil
	case method == http.MethodGet && path == "connections":
		return http.StatusOK, map[string]any{"connections": in.connInfo()}, nil
	case method == http.MethodGet && path == "rpcs":
		return http.StatusOK, map[string]any{"rpcs": in.beh.ActionNames()}, nil
	case method == http.MethodPost && strings.HasPrefix(path, "action/"):
		name := strings.TrimPrefix(path, "action/")
		var b struct {
			Args json.RawMessage `json:"args"`
		}
		if len(body) > 0 {
			if err := json.Unmarshal(body, &b); err != nil {
				return 0, nil, errs.Malformed(`POST action wants {"args": [...]}`)
			}
		}
		args := []byte{0x80}
		if len(b.Args) > 0 {
			v, err := protocol.JSONToValue(b.Args)
			if err != nil {
				return 0, nil, errs.Malformed("args: %v", err)
			}
			args = v
		}
		actx, cancel := in.taskContext(context.Background(), in.actionTimeout())
		defer cancel()
		out, err := in.runAction(actx, nil, name, args)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]any{"output": jsonValue(out)}, nil
	case method == http.MethodGet && path == "queue":
		limit := boundedInt(get("limit"), 100, 1000)
		ms, err := in.rt.store.ListQueue(ctx, in.id, 0, nil, limit)
		if err != nil {
			return 0, nil, errs.FromStore(err)
		}
		items := make([]map[string]any, 0, len(ms))
		for _, m := range ms {
			items = append(items, map[string]any{"id": m.Seq, "name": m.Name, "body": jsonValue(m.Body), "createdAt": m.EnqueuedAt.UnixMilli()})
		}
		n, err := in.rt.store.QueueLen(ctx, in.id)
		if err != nil {
			return 0, nil, errs.FromStore(err)
		}
		return http.StatusOK, map[string]any{"size": n, "messages": items}, nil
	case method == http.MethodGet && path == "traces":
		return http.StatusOK, in.otlp(msParam(get("startMs")), msParam(get("endMs")), boundedInt(get("limit"), 100, maxSpans)), nil
	case strings.HasPrefix(path, "db/"):
		return in.inspectDB(ctx, method, path, body)
	case method == http.MethodGet && path == "workflow-history":
		h, err := in.workflowHistory(ctx)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, h, nil
	}
	return 0, nil, errs.InspectorNotFound(method, path)
}

func boundedInt(s string, def, max int) int {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return def
	}
	return min(n, max)
}

func msParam(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(n)
}

func (in *Instance) connInfo() []map[string]any {
	out := make([]map[string]any, 0, len(in.conns))
	for _, c := range in.conns {
		subs := make([]string, 0, len(c.subs))
		for s := range c.subs {
			subs = append(subs, s)
		}
		sort.Strings(subs)
		st, _ := Marshal(c.state)
		out = append(out, map[string]any{"id": c.id, "params": jsonValue(c.params), "state": jsonValue(st), "subscriptions": subs})
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["id"].(string) < out[j]["id"].(string) })
	return out
}

// otlp renders spans as OTLP/JSON (one resource, one scope).
func (in *Instance) otlp(from, to time.Time, limit int) map[string]any {
	spans, trace := in.traces.list(from, to, limit)
	out := make([]map[string]any, 0, len(spans))
	for _, s := range spans {
		status := map[string]any{"code": 1}
		if s.Err != "" {
			status = map[string]any{"code": 2, "message": s.Err}
		}
		out = append(out, map[string]any{
			"traceId": trace, "spanId": s.SpanID, "name": s.Name, "kind": 1,
			"startTimeUnixNano": strconv.FormatInt(s.Start.UnixNano(), 10),
			"endTimeUnixNano":   strconv.FormatInt(s.End.UnixNano(), 10),
			"attributes":        []map[string]any{{"key": "rivet.kind", "value": map[string]any{"stringValue": s.Kind}}},
			"status":            status,
		})
	}
	return map[string]any{"resourceSpans": []map[string]any{{
		"resource": map[string]any{"attributes": []map[string]any{
			{"key": "service.name", "value": map[string]any{"stringValue": "rivetkube"}},
			{"key": "rivet.actor.id", "value": map[string]any{"stringValue": in.id}},
			{"key": "rivet.actor.name", "value": map[string]any{"stringValue": in.def.Name()}},
		}},
		"scopeSpans": []map[string]any{{"scope": map[string]any{"name": "rivetkube"}, "spans": out}},
	}}}
}
