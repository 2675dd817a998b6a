// Package client is the Go client SDK for Rivet actors. It speaks RivetKit
// client protocol v4 to the engine's gateway and REST API, like the official
// JavaScript client (rivetkit 2.3.x).
//
// A Client hands out handles; a Handle addresses one actor by name and key
// (Get, GetOrCreate), by ID (GetForID) or after creating it (Create).
// Handles call actions over HTTP, send raw HTTP requests (Fetch) and open
// raw WebSockets. Connect opens a stateful Conn, which also receives the
// events the actor broadcasts.
//
//	c, err := client.New(client.Config{Endpoint: "http://127.0.0.1:6420"})
//	if err != nil {
//		return err
//	}
//	counter := c.GetOrCreate("counter", []string{"my-counter"})
//
//	// Stateless action call.
//	n, err := client.Call[int](ctx, counter, "increment", 5)
//
//	// Stateful connection with events.
//	conn, err := counter.Connect(ctx, client.WithOnError(func(err error) {
//		log.Print(err)
//	}))
//	if err != nil {
//		return err
//	}
//	defer conn.Close()
//	unsubscribe := conn.On("newCount", func(args client.RawArgs) {
//		var count int
//		if err := args.Decode(0, &count); err == nil {
//			fmt.Println("count is now", count)
//		}
//	})
//	defer unsubscribe()
//	err = conn.Action(ctx, "increment", nil, 1)
//
// # Values
//
// Action arguments and outputs, event arguments, actor input and error
// metadata are CBOR values inside every wire encoding; the JSON encoding
// converts them to JSON on the wire. Go values are converted with
// github.com/fxamacker/cbor/v2: struct fields use their `cbor` tag or else
// their `json` tag, []byte is a byte string (a Uint8Array in JavaScript),
// *big.Int is a bignum (a BigInt), time.Time an RFC 3339 string. Decoded
// into an `any`, maps become map[string]any and integers int64 (or
// *big.Int when larger). Connection parameters (WithParams) are JSON.
//
// # Errors
//
// Errors reported by an actor or the gateway are *ActorError values with the
// protocol's group, code, message and CBOR metadata; a response that is not
// a protocol error is an *HTTPError. Both are wrapped, so use errors.As.
//
// # Retries
//
// Like the official client, requests that the gateway says were not
// processed are retried, every Config.RetryInterval up to Config.MaxRetries
// times and within the caller's context: the actor is starting, stopping or
// restarting (actor/starting, actor/stopping, actor/restarting,
// guard/service_unavailable, guard/actor_wake_retries_exceeded,
// guard/actor_stopped_while_waiting); no runner serves the actor name yet
// (actor/not_configured); for key-based handles the actor is being destroyed (actor/destroying,
// actor/destroyed_*), and for GetOrCreate handles it is not found yet
// (actor/not_found); or the engine could not be reached at all. An action is
// never resent once it may have run: actor/dropped_reply and transport
// failures after the request was sent are returned to the caller.
//
// # Routing
//
// Get and GetOrCreate handles send every request to the gateway with the
// actor query in the URL (rvt-method, rvt-key, rvt-input, ...), so the
// gateway resolves, and if needed creates, the actor each time. Keys that
// the query form cannot express (a key part containing a comma, the key
// [""]) and inputs larger than 4 KiB of CBOR are resolved through the REST
// API instead and addressed by actor ID.
package client
