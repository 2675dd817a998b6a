package errs

import (
	"net/http"
	"strconv"
	"time"
)

// The codes of the public edge (CORS, client tokens, rate limits). Each
// {group, code} pair is defined here once; the gateway uses these
// constructors and never spells the strings itself.
const (
	GroupAuth    = "auth"
	GroupRequest = "request"
	GroupLimit   = "limit"

	CodeOriginNotAllowed = "origin_not_allowed"
	CodeTokenMissing     = "token_missing"
	CodeTokenInvalid     = "token_invalid"
	CodeRateLimited      = "rate_limited"
	CodeTooManyInFlight  = "too_many_in_flight"
	CodeHeadersTooLarge  = "headers_too_large"
)

// OriginNotAllowed is request/origin_not_allowed: a browser request (or
// WebSocket upgrade) came from an origin outside the gateway's allow-list.
func OriginNotAllowed(origin string) *Error {
	if len(origin) > 200 {
		origin = origin[:200]
	}
	return New(http.StatusForbidden, GroupRequest, CodeOriginNotAllowed,
		"Origin %q is not allowed by this engine's CORS allow-list.", origin)
}

// TokenMissing is auth/token_missing (401): the engine requires a client
// token and the request carried none.
func TokenMissing() *Error {
	return New(http.StatusUnauthorized, GroupAuth, CodeTokenMissing,
		"This engine requires a client token (Authorization: Bearer, x-rivet-token, rvt-token or the rivet_token WebSocket protocol).")
}

// TokenInvalid is auth/token_invalid (403): the request carried a client
// token the engine does not accept.
func TokenInvalid() *Error {
	return New(http.StatusForbidden, GroupAuth, CodeTokenInvalid, "The client token is not valid.")
}

// RateLimited is limit/rate_limited (429): the client sent more requests
// per minute than its limit allows. RetryAfter says when to retry.
func RateLimited(scope string, perMinute int, retryAfter time.Duration) *Error {
	e := New(http.StatusTooManyRequests, GroupLimit, CodeRateLimited,
		"Too many requests %s: the limit is %d per minute. Retry after %s.", scope, perMinute, RetryAfterValue(retryAfter)+"s")
	return e
}

// TooManyInFlight is limit/too_many_in_flight (429): the client has too
// many requests or connections open at once.
func TooManyInFlight(scope string, limit int) *Error {
	return New(http.StatusTooManyRequests, GroupLimit, CodeTooManyInFlight,
		"Too many requests in flight %s: the limit is %d at once.", scope, limit)
}

// HeadersTooLarge is request/headers_too_large (431): the request's headers
// are more than the gateway hands to an actor.
func HeadersTooLarge(maxCount, maxBytes int) *Error {
	return New(http.StatusRequestHeaderFieldsTooLarge, GroupRequest, CodeHeadersTooLarge,
		"Request headers too large for the actor: at most %d values and %d bytes.", maxCount, maxBytes)
}

// RetryAfterValue renders d as a Retry-After header value: whole seconds,
// at least 1.
func RetryAfterValue(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}
