package hostapi

import "context"

type selfPlaceKey struct{}

// WithSelfPlace marks a request whose target generation g is not placed
// yet: the host places the actor on itself with a compare-and-set on
// generation g-1 (store.Instances.PlaceActivation) as it activates it, and
// refuses the request as stale (errs.Stale, nothing ran) when that fails.
// A gateway waking an actor that slept at g-1 sends it so, saving the
// store round trip of placing it first. A host that does not place
// (the local engine) or does not know the mark activates as usual: the
// row it reads then shows g-1, and it refuses the request as stale.
func WithSelfPlace(ctx context.Context) context.Context {
	return context.WithValue(ctx, selfPlaceKey{}, true)
}

// SelfPlace reports whether ctx carries WithSelfPlace's mark.
func SelfPlace(ctx context.Context) bool {
	v, _ := ctx.Value(selfPlaceKey{}).(bool)
	return v
}
