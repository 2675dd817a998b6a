package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// inspection is what `inspect` gathers from the inspector (-o json).
type inspection struct {
	Summary         inspectSummary `json:"summary"`
	Queue           inspectQueue   `json:"queue"`
	WorkflowHistory struct {
		Steps []inspectStep `json:"steps"`
	} `json:"workflowHistory"`
	Traces []inspectSpan `json:"traces"`
}

type inspectSummary struct {
	ActorID     string            `json:"actorId"`
	Name        string            `json:"name"`
	Key         []string          `json:"key"`
	Generation  uint64            `json:"generation"`
	State       json.RawMessage   `json:"state"`
	Connections []json.RawMessage `json:"connections"`
	Actions     []string          `json:"actions"`
	QueueSize   int               `json:"queueSize"`
	Schedules   int               `json:"schedules"`
	Workflow    json.RawMessage   `json:"workflow"`
}

type inspectQueue struct {
	Size     int `json:"size"`
	Messages []struct {
		ID        uint64          `json:"id"`
		Name      string          `json:"name"`
		Body      json.RawMessage `json:"body"`
		CreatedAt int64           `json:"createdAt"`
	} `json:"messages"`
}

type inspectStep struct {
	Workflow   string          `json:"workflow"`
	Seq        int64           `json:"seq"`
	Name       string          `json:"name"`
	Status     string          `json:"status"`
	Attempts   int             `json:"attempts"`
	Result     json.RawMessage `json:"result"`
	Error      string          `json:"error,omitempty"`
	StartedAt  int64           `json:"startedAt"`
	FinishedAt int64           `json:"finishedAt,omitempty"`
}

// inspectSpan is one span of the inspector's OTLP/JSON traces, flattened.
type inspectSpan struct {
	Name     string        `json:"name"`
	Kind     string        `json:"kind"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"durationNs"`
	Error    string        `json:"error,omitempty"`
	TraceID  string        `json:"traceId"`
	SpanID   string        `json:"spanId"`
}

func inspectCmd() cmd {
	return cmd{
		path: "inspect", args: "ACTOR", summary: "summary, queue, workflow history and recent traces of an actor (inspector)",
		min: 1, max: 1,
		flags: func(fs *flag.FlagSet, o *opts) {
			fs.IntVar(&o.traces, "traces", 20, "recent spans to show (1 to 1000)")
		},
		run: runInspect,
	}
}

func runInspect(ctx context.Context, r *runner, args []string) error {
	if r.o.traces < 1 || r.o.traces > 1000 {
		return usageErr("--traces must be between 1 and 1000")
	}
	return r.withActor(ctx, args[0], func(ctx context.Context, e *engine, id string) error {
		var in inspection
		if err := e.inspector(ctx, id, http.MethodGet, "summary", nil, nil, &in.Summary); err != nil {
			return fmt.Errorf("inspect %s: %w", id, err)
		}
		if err := e.inspector(ctx, id, http.MethodGet, "queue", url.Values{"limit": {"20"}}, nil, &in.Queue); err != nil {
			return fmt.Errorf("inspect %s queue: %w", id, err)
		}
		if err := e.inspector(ctx, id, http.MethodGet, "workflow-history", nil, nil, &in.WorkflowHistory); err != nil {
			return fmt.Errorf("inspect %s workflow history: %w", id, err)
		}
		var otlp otlpTraces
		if err := e.inspector(ctx, id, http.MethodGet, "traces", url.Values{"limit": {strconv.Itoa(r.o.traces)}}, nil, &otlp); err != nil {
			return fmt.Errorf("inspect %s traces: %w", id, err)
		}
		in.Traces = otlp.spans()
		if in.Summary.Key == nil {
			in.Summary.Key = []string{}
		}
		if r.o.output == "json" {
			return r.printJSON(in)
		}
		return r.printInspection(&in)
	})
}

func (r *runner) printInspection(in *inspection) error {
	s := in.Summary
	w := r.env.Stdout
	t := newTable(w, "ACTOR", "")
	t.row("id", s.ActorID)
	t.row("name", s.Name)
	t.row("key", keyString(s.Key))
	t.row("generation", strconv.FormatUint(s.Generation, 10))
	t.row("connections", strconv.Itoa(len(s.Connections)))
	t.row("actions", dash(strings.Join(s.Actions, ", ")))
	t.row("schedules", strconv.Itoa(s.Schedules))
	t.row("queue", strconv.Itoa(in.Queue.Size)+" messages")
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nSTATE\n%s\n", cut(compactJSON(s.State), 2000))
	if len(in.Queue.Messages) > 0 {
		fmt.Fprintln(w)
		qt := newTable(w, "QUEUE ID", "NAME", "AGE", "BODY")
		for _, m := range in.Queue.Messages {
			qt.row(strconv.FormatUint(m.ID, 10), m.Name, ago(time.UnixMilli(m.CreatedAt), time.Now()), compactJSON(m.Body))
		}
		if err := qt.flush(); err != nil {
			return err
		}
	}
	if len(in.WorkflowHistory.Steps) > 0 {
		fmt.Fprintln(w)
		wt := newTable(w, "WORKFLOW", "SEQ", "STEP", "STATUS", "ATTEMPTS", "RESULT/ERROR")
		for _, st := range in.WorkflowHistory.Steps {
			res := compactJSON(st.Result)
			if st.Error != "" {
				res = st.Error
			}
			wt.row(dash(st.Workflow), strconv.FormatInt(st.Seq, 10), st.Name, st.Status, strconv.Itoa(st.Attempts), res)
		}
		if err := wt.flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	if len(in.Traces) == 0 {
		_, err := fmt.Fprintln(w, "TRACES\nno spans recorded since the actor woke")
		return err
	}
	tt := newTable(w, "SPAN", "KIND", "STARTED", "DURATION", "ERROR")
	for _, sp := range in.Traces {
		tt.row(sp.Name, sp.Kind, sp.Start.Format("15:04:05.000"), sp.Duration.String(), dash(sp.Error))
	}
	return tt.flush()
}

func compactJSON(v json.RawMessage) string {
	if len(v) == 0 {
		return "null"
	}
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return string(v)
	}
	return b.String()
}

// otlpTraces is the subset of OTLP/JSON the inspector's traces use.
type otlpTraces struct {
	ResourceSpans []struct {
		ScopeSpans []struct {
			Spans []struct {
				TraceID    string `json:"traceId"`
				SpanID     string `json:"spanId"`
				Name       string `json:"name"`
				Start      string `json:"startTimeUnixNano"`
				End        string `json:"endTimeUnixNano"`
				Attributes []struct {
					Key   string `json:"key"`
					Value struct {
						StringValue string `json:"stringValue"`
					} `json:"value"`
				} `json:"attributes"`
				Status struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"status"`
			} `json:"spans"`
		} `json:"scopeSpans"`
	} `json:"resourceSpans"`
}

func (o otlpTraces) spans() []inspectSpan {
	out := []inspectSpan{}
	for _, rs := range o.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				start, _ := strconv.ParseInt(s.Start, 10, 64)
				end, _ := strconv.ParseInt(s.End, 10, 64)
				sp := inspectSpan{Name: s.Name, Start: time.Unix(0, start).UTC(), Duration: time.Duration(end - start), TraceID: s.TraceID, SpanID: s.SpanID}
				for _, a := range s.Attributes {
					if a.Key == "rivet.kind" {
						sp.Kind = a.Value.StringValue
					}
				}
				if s.Status.Code == 2 {
					sp.Error = s.Status.Message
				}
				out = append(out, sp)
			}
		}
	}
	return out
}
