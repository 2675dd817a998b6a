package link

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/rivetkube/rivetkube/internal/metrics"
	"github.com/rivetkube/rivetkube/internal/tracing"
)

// frameCounter adapts the runner's metrics to limits.frames (nil without
// metrics, so the link pays nothing).
func frameCounter(m *metrics.Runner) func(in bool, kind string) {
	if m == nil {
		return nil
	}
	return m.LinkFrame
}

// received is the reader's frame callback: it counts the frame, then
// dispatches it.
func (l *link) received(f *frame) {
	if l.lim.frames != nil {
		l.lim.frames(true, f.K.String())
	}
	l.dispatch(f)
}

// startCallSpan starts the client span of a call ("link <kind>") and puts
// its context into the call frame, so the runner's spans are its children.
func startCallSpan(ctx context.Context, f *frame, k kind) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		// No trace to continue: stay out of the way (the global provider
		// would start a root span per call otherwise).
		return ctx, nil
	}
	ctx, span := tracing.Tracer().Start(ctx, "link "+k.String(),
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("rivetkube.actor_id", f.Actor)))
	f.Trace = tracing.Carrier(ctx)
	return ctx, span
}

// endCallSpan ends span with the call's outcome.
func endCallSpan(span trace.Span, res *frame, err error) {
	if span == nil {
		return
	}
	if err == nil && res != nil && res.Err != nil {
		err = res.Err.err()
	}
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
