package runner

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/metrics"
	"github.com/rivetkube/rivetkube/internal/tracing"
)

// errActorPanicked marks the error a panic in actor code became. It is
// logged (with its stack) where it is recovered, and only there.
var errActorPanicked = errors.New("actor code panicked")

// panicked logs a panic recovered from actor code once, with the actor's
// id (in.log carries it) and the goroutine's stack, and returns the error
// the client sees: actor/internal_error.
func (in *Instance) panicked(where string, rec any) error {
	in.logger().Error("actor code panicked", "where", where, "panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
	return fmt.Errorf("%w: %w", errActorPanicked, errs.Internal())
}

// gauges reads the runtime's gauges for a scrape.
func (rt *Runtime) gauges() metrics.RunnerGauges {
	rt.mu.Lock()
	live := make([]*Instance, 0, len(rt.actors))
	for _, in := range rt.actors {
		live = append(live, in)
	}
	rt.mu.Unlock()
	g := metrics.RunnerGauges{Awake: len(live)}
	for _, in := range live {
		g.Suspended += int(in.suspended.Load())
		g.Queued += in.queue.len()
	}
	return g
}

// actionOutcome is the outcome label of an action's error.
func actionOutcome(err error) string {
	if err == nil {
		return "ok"
	}
	pe := toPublic(err)
	switch {
	case pe.Group == "user":
		return "user_error"
	case pe.Group == "actor" && pe.Code == "action_timed_out":
		return "timeout"
	case errors.Is(pe, errs.ErrInternal):
		return "internal_error"
	}
	return "error"
}

// startActionSpan starts the span of an HTTP action on this runner, a
// child of the caller's (the gateway's, across the link). Without a trace
// in ctx it starts nothing.
func (in *Instance) startActionSpan(ctx context.Context, name string) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, nil
	}
	return tracing.Tracer().Start(ctx, "action "+name, trace.WithAttributes(
		attribute.String("rivetkube.actor_id", in.id),
		attribute.String("rivetkube.actor_name", in.def.Name()),
		attribute.String("rivetkube.action", name),
		attribute.Int64("rivetkube.generation", int64(in.gen))))
}

// endSpan ends span (nil-safe) with err's outcome.
func endSpan(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.SetStatus(codes.Error, toPublic(err).Code)
	}
	span.End()
}

// stopReason is the reason label of a stop: a sleep forced by the gateway
// (Runtime.Stop) is a drain.
func stopReason(k stopKind, forced bool) string {
	if k == stopSleep && forced {
		return "drain"
	}
	return k.String()
}

// startCommitSpan starts the span covering a task's commit: from the
// flush until the commit covering the task is durable and its outputs may
// leave. Without a trace in ctx it starts nothing.
func startCommitSpan(ctx context.Context) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, nil
	}
	return tracing.Tracer().Start(ctx, "commit")
}

// Awake returns the number of awake actors (live instances).
func (rt *Runtime) Awake() int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return len(rt.actors)
}
