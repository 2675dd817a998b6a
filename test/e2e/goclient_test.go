package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/big"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/internal/protocol"
)

// The Go client suite: the real fixture engine process driven by the public
// Go client SDK (package client), in the bare, json and cbor encodings. It
// mirrors the JS conformance suite in test/js; the fixture actors and their
// contract are described in test/js/README.md.

type message struct {
	Text string `cbor:"text"`
}

type roomInfo struct {
	Org  string `cbor:"org"`
	Room string `cbor:"room"`
}

type sleepyState struct {
	Count  int64 `cbor:"count"`
	Wakes  int64 `cbor:"wakes"`
	Sleeps int64 `cbor:"sleeps"`
}

// TestGoClientHTTPActions: stateless actions; create, get, getOrCreate,
// getForID and resolve; Call[T].
func TestGoClientHTTPActions(t *testing.T) {
	e := startEngine(t)
	eachEncoding(t, e.Endpoint, func(t *testing.T, c *client.Client) {
		t.Run("getOrCreate", func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			key := uniq("counter")
			counter := c.GetOrCreate("counter", []string{key})
			var n int64
			if err := counter.Action(ctx, "increment", &n, 5); err != nil || n != 5 {
				t.Fatalf("increment(5) = %d, %v; want 5", n, err)
			}
			if n := call[int64](t, ctx, counter, "increment", 3); n != 8 {
				t.Fatalf("increment(3) = %d, want 8", n)
			}
			if n := call[int64](t, ctx, counter, "getCount"); n != 8 {
				t.Fatalf("getCount = %d, want 8", n)
			}
			// A second handle for the same key reaches the same actor.
			if n := call[int64](t, ctx, c.GetOrCreate("counter", []string{key}), "getCount"); n != 8 {
				t.Fatalf("getCount through a new handle = %d, want 8", n)
			}
			// A different key is a different actor.
			if n := call[int64](t, ctx, c.GetOrCreate("counter", []string{uniq("counter")}), "getCount"); n != 0 {
				t.Fatalf("getCount of another key = %d, want 0", n)
			}
			// A nil out discards the output.
			if err := counter.Action(ctx, "increment", nil, 1); err != nil {
				t.Fatal(err)
			}
			if n := call[int64](t, ctx, counter, "getCount"); n != 9 {
				t.Fatalf("getCount = %d, want 9", n)
			}
		})

		t.Run("create get getForID resolve", func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			key := uniq("created")
			created, err := c.Create(ctx, "counter", []string{key})
			if err != nil {
				t.Fatal(err)
			}
			if n := call[int64](t, ctx, created, "increment", 2); n != 2 {
				t.Fatalf("increment(2) = %d, want 2", n)
			}
			byKey := c.Get("counter", []string{key})
			if n := call[int64](t, ctx, byKey, "getCount"); n != 2 {
				t.Fatalf("get().getCount = %d, want 2", n)
			}
			id, err := byKey.Resolve(ctx)
			if err != nil || id == "" {
				t.Fatalf("resolve = %q, %v", id, err)
			}
			if cid, err := created.Resolve(ctx); err != nil || cid != id {
				t.Fatalf("created.Resolve = %q, %v; get().Resolve = %q", cid, err, id)
			}
			if gid, err := c.GetOrCreate("counter", []string{key}).Resolve(ctx); err != nil || gid != id {
				t.Fatalf("getOrCreate of an existing key resolves to %q, %v; want %q", gid, err, id)
			}
			byID := c.GetForID("counter", id)
			if n := call[int64](t, ctx, byID, "getCount"); n != 2 {
				t.Fatalf("getForID().getCount = %d, want 2", n)
			}
			if n := call[int64](t, ctx, byID, "increment", 1); n != 3 {
				t.Fatalf("getForID().increment(1) = %d, want 3", n)
			}
			if n := call[int64](t, ctx, byKey, "getCount"); n != 3 {
				t.Fatalf("get().getCount after increment by id = %d, want 3", n)
			}

			// The key is taken.
			_, err = c.Create(ctx, "counter", []string{key})
			ae := wantActorError(t, err, "actor", "duplicate_key")
			if ae.StatusCode != http.StatusConflict {
				t.Errorf("duplicate create: status %d, want 409", ae.StatusCode)
			}

			// The REST listing knows the actor with its key.
			list, err := c.List(ctx, "counter")
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(list, func(a client.ActorInfo) bool { return a.ID == id })
			if i < 0 {
				t.Fatalf("List(counter) does not contain %s", id)
			}
			if a := list[i]; a.Name != "counter" || !slices.Equal(a.Key, []string{key}) || a.CreatedAt.IsZero() {
				t.Errorf("List entry = %+v, want name counter, key [%s], a creation time", a, key)
			}
		})

		t.Run("resolve of different keys", func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			a, err := c.GetOrCreate("counter", []string{uniq("a")}).Resolve(ctx)
			if err != nil {
				t.Fatal(err)
			}
			b, err := c.GetOrCreate("counter", []string{uniq("b")}).Resolve(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if a == "" || a == b {
				t.Fatalf("different keys resolved to %q and %q", a, b)
			}
		})

		t.Run("Call generic", func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			room := c.GetOrCreate("chatRoom", []string{uniq("org"), "generic"})
			m, err := client.Call[message](ctx, room, "sendMessage", "typed")
			if err != nil || m.Text != "typed" {
				t.Fatalf("Call[message](sendMessage) = %+v, %v", m, err)
			}
			msgs, err := client.Call[[]message](ctx, room, "getMessages")
			if err != nil || !reflect.DeepEqual(msgs, []message{{"typed"}}) {
				t.Fatalf("Call[[]message](getMessages) = %+v, %v", msgs, err)
			}
			n, err := client.Call[int](ctx, c.GetOrCreate("counter", []string{uniq("c")}), "increment", 7)
			if err != nil || n != 7 {
				t.Fatalf("Call[int](increment 7) = %d, %v", n, err)
			}
			// A result that does not fit the type is a decoding error, not a zero.
			if _, err := client.Call[int](ctx, room, "getRoomInfo"); err == nil {
				t.Fatal("Call[int] of a map output succeeded")
			}
		})
	})
}

// TestGoClientEvents: connections, subscriptions and broadcasts.
func TestGoClientEvents(t *testing.T) {
	e := startEngine(t)
	eachEncoding(t, e.Endpoint, func(t *testing.T, c *client.Client) {
		t.Run("counter broadcasts", func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			key := uniq("counter")
			a := connect(t, ctx, c.GetOrCreate("counter", []string{key}))
			b := connect(t, ctx, c.GetOrCreate("counter", []string{key}))
			seenA := recordEvents[int64](a, "count")
			seenB := recordEvents[int64](b, "count")

			id, err := c.GetOrCreate("counter", []string{key}).Resolve(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if a.ActorID() != id || b.ActorID() != id {
				t.Fatalf("conn actor ids %q, %q; actor is %q", a.ActorID(), b.ActorID(), id)
			}
			if a.ConnectionID() == "" || a.ConnectionID() == b.ConnectionID() {
				t.Fatalf("connection ids %q and %q must be distinct and non-empty", a.ConnectionID(), b.ConnectionID())
			}
			// One round trip on each connection: its subscription, sent first
			// on the socket, has then been applied.
			if n := call[int64](t, ctx, a, "getCount"); n != 0 {
				t.Fatalf("a.getCount = %d", n)
			}
			if n := call[int64](t, ctx, b, "getCount"); n != 0 {
				t.Fatalf("b.getCount = %d", n)
			}

			if n := call[int64](t, ctx, a, "increment", 1); n != 1 {
				t.Fatalf("a.increment(1) = %d, want 1", n)
			}
			seenB.wait(t, 1, 5*time.Second)
			if n := call[int64](t, ctx, b, "increment", 2); n != 3 {
				t.Fatalf("b.increment(2) = %d, want 3", n)
			}
			seenA.wait(t, 2, 5*time.Second)
			seenB.wait(t, 2, 5*time.Second)

			// An HTTP action broadcasts to the connections too.
			if n := call[int64](t, ctx, c.GetOrCreate("counter", []string{key}), "increment", 10); n != 13 {
				t.Fatalf("http increment(10) = %d, want 13", n)
			}
			want := []int64{1, 3, 13}
			if got := seenA.wait(t, 3, 5*time.Second); !slices.Equal(got, want) {
				t.Errorf("a saw %v, want %v", got, want)
			}
			if got := seenB.wait(t, 3, 5*time.Second); !slices.Equal(got, want) {
				t.Errorf("b saw %v, want %v", got, want)
			}
			if n := call[int64](t, ctx, a, "getCount"); n != 13 {
				t.Fatalf("a.getCount = %d, want 13", n)
			}
			// Nothing beyond the three broadcasts arrived.
			if got, _ := seenA.snapshot(); len(got) != 3 {
				t.Errorf("a saw %v after getCount, want %v", got, want)
			}
		})

		t.Run("chatRoom newMessage", func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			key := []string{uniq("org"), "lobby"}
			alice := connect(t, ctx, c.GetOrCreate("chatRoom", key))
			bob := connect(t, ctx, c.GetOrCreate("chatRoom", key))
			seenAlice := recordEvents[message](alice, "newMessage")
			seenBob := recordEvents[message](bob, "newMessage")
			if msgs := call[[]message](t, ctx, alice, "getMessages"); len(msgs) != 0 {
				t.Fatalf("alice.getMessages = %v, want []", msgs)
			}
			if msgs := call[[]message](t, ctx, bob, "getMessages"); len(msgs) != 0 {
				t.Fatalf("bob.getMessages = %v, want []", msgs)
			}

			if m := call[message](t, ctx, alice, "sendMessage", "hello from alice"); m.Text != "hello from alice" {
				t.Fatalf("alice.sendMessage returned %+v", m)
			}
			seenBob.wait(t, 1, 5*time.Second)
			if m := call[message](t, ctx, bob, "sendMessage", "hi alice"); m.Text != "hi alice" {
				t.Fatalf("bob.sendMessage returned %+v", m)
			}
			seenAlice.wait(t, 2, 5*time.Second)
			if m := call[message](t, ctx, c.GetOrCreate("chatRoom", key), "sendMessage", "via http"); m.Text != "via http" {
				t.Fatalf("http sendMessage returned %+v", m)
			}
			want := []message{{"hello from alice"}, {"hi alice"}, {"via http"}}
			if got := seenAlice.wait(t, 3, 5*time.Second); !reflect.DeepEqual(got, want) {
				t.Errorf("alice saw %+v, want %+v", got, want)
			}
			if got := seenBob.wait(t, 3, 5*time.Second); !reflect.DeepEqual(got, want) {
				t.Errorf("bob saw %+v, want %+v", got, want)
			}
			if got := call[[]message](t, ctx, bob, "getMessages"); !reflect.DeepEqual(got, want) {
				t.Errorf("getMessages = %+v, want %+v", got, want)
			}
			if got := call[roomInfo](t, ctx, alice, "getRoomInfo"); got != (roomInfo{key[0], "lobby"}) {
				t.Errorf("getRoomInfo = %+v, want {%s lobby}", got, key[0])
			}
			// The event arrives as the map {text}, nothing more.
			raw := recordEvents[map[string]any](alice, "newMessage")
			call[message](t, ctx, bob, "sendMessage", "raw")
			if got := raw.wait(t, 1, 5*time.Second); !reflect.DeepEqual(got[0], map[string]any{"text": "raw"}) {
				t.Errorf("newMessage payload = %#v, want {text: raw}", got[0])
			}
		})

		t.Run("concurrent actions over one connection", func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			conn := connect(t, ctx, c.GetOrCreate("echo", []string{uniq("echo")}))
			var wg sync.WaitGroup
			errc := make(chan error, 32)
			check := func(name string, arg, want any) {
				defer wg.Done()
				var got any
				if err := conn.Action(ctx, name, &got, arg); err != nil {
					errc <- err
					return
				}
				if !sameValue(got, want) {
					errc <- errors.New(name + ": got " + describe(got) + ", want " + describe(want))
				}
			}
			wg.Add(22)
			go check("slow", 300, int64(300))
			for i := range 20 {
				s := "msg-" + string(rune('a'+i))
				go check("echo", s, s)
			}
			go check("slow", 100, int64(100))
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Error(err)
			}
		})
	})
}

// connect opens a Conn, closed when the test ends.
func connect(t *testing.T, ctx context.Context, h *client.Handle, opts ...client.ConnOption) *client.Conn {
	t.Helper()
	conn, err := h.Connect(ctx, opts...)
	if err != nil {
		t.Fatalf("connect %s: %v", h.Name(), err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestGoClientErrors: user errors, unknown actions, unknown actor names and
// missing actors, over HTTP and over a connection.
func TestGoClientErrors(t *testing.T) {
	e := startEngine(t)
	eachEncoding(t, e.Endpoint, func(t *testing.T, c *client.Client) {
		checkUserError := func(t *testing.T, err error, status int) {
			t.Helper()
			ae := wantActorError(t, err, "user", "username_too_short")
			if ae.Message != "Username too short" {
				t.Errorf("message = %q, want %q", ae.Message, "Username too short")
			}
			if ae.StatusCode != status {
				t.Errorf("status = %d, want %d", ae.StatusCode, status)
			}
			var meta map[string]any
			if err := ae.DecodeMetadata(&meta); err != nil {
				t.Fatal(err)
			}
			if want := map[string]any{"minLength": int64(3), "actual": int64(2)}; !reflect.DeepEqual(meta, want) {
				t.Errorf("metadata = %#v, want %#v", meta, want)
			}
			var typed struct {
				MinLength int `cbor:"minLength"`
				Actual    int `cbor:"actual"`
			}
			if err := ae.DecodeMetadata(&typed); err != nil || typed.MinLength != 3 || typed.Actual != 2 {
				t.Errorf("typed metadata = %+v, %v", typed, err)
			}
		}

		t.Run("UserError over HTTP", func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			user := c.GetOrCreate("user", []string{uniq("user")})
			_, err := client.Call[string](ctx, user, "updateUsername", "ab")
			checkUserError(t, err, http.StatusBadRequest)
			if u := call[string](t, ctx, user, "getUsername"); u != "" {
				t.Fatalf("username after a rejected update = %q, want empty", u)
			}
			if u := call[string](t, ctx, user, "updateUsername", "alice"); u != "alice" {
				t.Fatalf("updateUsername(alice) = %q", u)
			}
			if u := call[string](t, ctx, user, "getUsername"); u != "alice" {
				t.Fatalf("getUsername = %q, want alice", u)
			}
		})

		t.Run("UserError over a connection", func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			var connErrs atomic.Int32
			conn := connect(t, ctx, c.GetOrCreate("user", []string{uniq("user")}),
				client.WithOnError(func(err error) { connErrs.Add(1); t.Logf("conn error: %v", err) }))
			_, err := client.Call[string](ctx, conn, "updateUsername", "ab")
			checkUserError(t, err, 0)
			// The connection stays usable.
			if u := call[string](t, ctx, conn, "updateUsername", "bob"); u != "bob" {
				t.Fatalf("updateUsername(bob) = %q", u)
			}
			if u := call[string](t, ctx, conn, "getUsername"); u != "bob" {
				t.Fatalf("getUsername = %q, want bob", u)
			}
			if conn.Err() != nil || connErrs.Load() != 0 {
				t.Fatalf("an action error affected the connection: Err=%v, %d error callbacks", conn.Err(), connErrs.Load())
			}
		})

		t.Run("action_not_found", func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			counter := c.GetOrCreate("counter", []string{uniq("counter")})
			ae := wantActorError(t, counter.Action(ctx, "noSuchAction", nil, 1), "actor", "action_not_found")
			if ae.StatusCode != http.StatusNotFound {
				t.Errorf("status = %d, want 404", ae.StatusCode)
			}
			if n := call[int64](t, ctx, counter, "increment", 1); n != 1 {
				t.Fatalf("increment after the error = %d, want 1", n)
			}
			conn := connect(t, ctx, counter)
			wantActorError(t, conn.Action(ctx, "noSuchAction", nil), "actor", "action_not_found")
			if n := call[int64](t, ctx, conn, "increment", 2); n != 3 {
				t.Fatalf("conn increment after the error = %d, want 3", n)
			}
		})

		t.Run("name_not_found fails fast", func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			log := &requestLog{}
			rc := newGoClient(t, e.Endpoint, encodingOf(t), log)
			key := []string{uniq("k")}

			err := rc.GetOrCreate("noSuchActor", key).Action(ctx, "increment", nil, 1)
			wantActorError(t, err, "actor", "name_not_found")
			if reqs := log.take(); len(reqs) != 1 {
				t.Errorf("getOrCreate of an unknown name sent %d requests %v, want 1 (no retries)", len(reqs), reqs)
			}
			err = rc.Get("noSuchActor", key).Action(ctx, "increment", nil, 1)
			wantActorError(t, err, "actor", "name_not_found")
			if reqs := log.take(); len(reqs) != 1 {
				t.Errorf("get of an unknown name sent %d requests %v, want 1", len(reqs), reqs)
			}
			_, err = rc.GetOrCreate("noSuchActor", key).Connect(ctx)
			wantActorError(t, err, "actor", "name_not_found")
			if reqs := log.take(); len(reqs) != 1 {
				t.Errorf("connect to an unknown name sent %d requests %v, want 1", len(reqs), reqs)
			}
			_, err = rc.Create(ctx, "noSuchActor", key)
			wantActorError(t, err, "actor", "name_not_found")
			if reqs := log.take(); len(reqs) != 1 {
				t.Errorf("create of an unknown name sent %d requests %v, want 1", len(reqs), reqs)
			}
		})

		t.Run("get of a missing key", func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			key := []string{uniq("missing")}
			ae := wantActorError(t, c.Get("counter", key).Action(ctx, "getCount", nil), "actor", "not_found")
			if ae.StatusCode != http.StatusNotFound {
				t.Errorf("status = %d, want 404", ae.StatusCode)
			}
			_, err := c.Get("counter", key).Resolve(ctx)
			wantActorError(t, err, "actor", "not_found")
			_, err = c.Get("counter", key).Connect(ctx)
			wantActorError(t, err, "actor", "not_found")
			// get did not create it.
			wantActorError(t, c.Get("counter", key).Action(ctx, "getCount", nil), "actor", "not_found")
			list, err := c.List(ctx, "counter")
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range list {
				if slices.Equal(a.Key, key) {
					t.Fatalf("get created actor %s for the missing key", a.ID)
				}
			}
			// An unknown id is not found either.
			wantActorError(t, c.GetForID("counter", "0123456789abcdef0123456789abcdef").Action(ctx, "getCount", nil), "actor", "not_found")
		})
	})
}

// encodingOf returns the encoding of an eachEncoding subtest from its name.
func encodingOf(t *testing.T) client.Encoding {
	for _, enc := range goEncodings {
		if strings.Contains(t.Name(), "/"+string(enc)+"/") || strings.HasSuffix(t.Name(), "/"+string(enc)) {
			return enc
		}
	}
	t.Fatalf("no encoding in test name %s", t.Name())
	return ""
}

// TestGoClientKeys: compound keys, and keys the query route cannot carry.
func TestGoClientKeys(t *testing.T) {
	e := startEngine(t)
	eachEncoding(t, e.Endpoint, func(t *testing.T, c *client.Client) {
		t.Run("compound", func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			org := uniq("org-x")
			key := []string{org, "room/1"}
			room := c.GetOrCreate("chatRoom", key)
			if got := call[roomInfo](t, ctx, room, "getRoomInfo"); got != (roomInfo{org, "room/1"}) {
				t.Fatalf("getRoomInfo = %+v, want {%s room/1}", got, org)
			}
			call[message](t, ctx, room, "sendMessage", "in room 1")
			id, err := c.Get("chatRoom", key).Resolve(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rid, err := room.Resolve(ctx); err != nil || rid != id {
				t.Fatalf("getOrCreate resolves to %q, %v; get to %q", rid, err, id)
			}
			if got := call[roomInfo](t, ctx, c.GetForID("chatRoom", id), "getRoomInfo"); got != (roomInfo{org, "room/1"}) {
				t.Fatalf("getForID getRoomInfo = %+v", got)
			}
			for _, other := range [][]string{
				{org, "room/2"},
				{org + "-2", "room/1"},
				{org + "/room", "1"},
				{org + "/room/1"},
				{org, "room", "1"},
				{org, `room\/1`},
			} {
				h := c.GetOrCreate("chatRoom", other)
				if msgs := call[[]message](t, ctx, h, "getMessages"); len(msgs) != 0 {
					t.Errorf("key %q shares messages %v with %q", other, msgs, key)
				}
				if oid, err := h.Resolve(ctx); err != nil || oid == id {
					t.Errorf("key %q resolves to %q, %v (the actor of %q is %q)", other, oid, err, key, id)
				}
				want := roomInfo{Org: other[0]}
				if len(other) > 1 {
					want.Room = other[1]
				}
				if got := call[roomInfo](t, ctx, h, "getRoomInfo"); got != want {
					t.Errorf("key %q: getRoomInfo = %+v, want %+v", other, got, want)
				}
			}
			if got := call[[]message](t, ctx, room, "getMessages"); !reflect.DeepEqual(got, []message{{"in room 1"}}) {
				t.Errorf("getMessages = %+v", got)
			}
		})

		t.Run("comma inside a part", func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			log := &requestLog{}
			rc := newGoClient(t, e.Endpoint, encodingOf(t), log)
			org := uniq("org")
			key := []string{org + ",a", "b,c"}
			room := rc.GetOrCreate("chatRoom", key)
			if got := call[roomInfo](t, ctx, room, "getRoomInfo"); got != (roomInfo{org + ",a", "b,c"}) {
				t.Fatalf("getRoomInfo = %+v, want {%s,a b,c}", got, org)
			}
			reqs := log.take()
			if !slices.Contains(reqs, "PUT /actors") {
				t.Errorf("a comma key was not resolved through REST: requests %v", reqs)
			}
			call[message](t, ctx, room, "sendMessage", "comma")

			// The query-routable keys with the same parts joined by commas are
			// other actors.
			for _, other := range [][]string{{org, "a", "b", "c"}, {org, "a", "b,c"}, {org + ",a,b", "c"}} {
				h := rc.GetOrCreate("chatRoom", other)
				if msgs := call[[]message](t, ctx, h, "getMessages"); len(msgs) != 0 {
					t.Errorf("key %q shares messages %v with %q", other, msgs, key)
				}
			}
			// Get and Connect find the same actor.
			id, err := rc.Get("chatRoom", key).Resolve(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rid, err := room.Resolve(ctx); err != nil || rid != id {
				t.Fatalf("getOrCreate resolves to %q, %v; get to %q", rid, err, id)
			}
			conn := connect(t, ctx, rc.Get("chatRoom", key))
			if conn.ActorID() != id {
				t.Errorf("conn actor %q, want %q", conn.ActorID(), id)
			}
			if got := call[[]message](t, ctx, conn, "getMessages"); !reflect.DeepEqual(got, []message{{"comma"}}) {
				t.Errorf("getMessages over the conn = %+v", got)
			}
		})

		t.Run("empty key and empty part", func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			// Each test run needs fresh actors, so the empty parts are
			// combined with a unique part where the shape allows it.
			org := uniq("org")
			keys := [][]string{{org, ""}, {"", org}, {org}, {org, "", ""}}
			ids := map[string][]string{}
			for _, k := range keys {
				h := c.GetOrCreate("chatRoom", k)
				want := roomInfo{Org: k[0]}
				if len(k) > 1 {
					want.Room = k[1]
				}
				if got := call[roomInfo](t, ctx, h, "getRoomInfo"); got != want {
					t.Errorf("key %q: getRoomInfo = %+v, want %+v", k, got, want)
				}
				call[message](t, ctx, h, "sendMessage", strings.Join(k, "|"))
				id, err := h.Resolve(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if prev, ok := ids[id]; ok {
					t.Errorf("keys %q and %q are the same actor %s", prev, k, id)
				}
				ids[id] = k
			}
			for _, k := range keys {
				got := call[[]message](t, ctx, c.Get("chatRoom", k), "getMessages")
				if want := []message{{strings.Join(k, "|")}}; !reflect.DeepEqual(got, want) {
					t.Errorf("key %q: messages %+v, want %+v", k, got, want)
				}
			}
		})
	})
}

// TestGoClientEmptyKeys: the empty key and the key [""] are two actors (the
// client routes [""] through REST). Not per encoding subtests in parallel:
// these keys cannot be made unique, so one client walks them in turn.
func TestGoClientEmptyKeys(t *testing.T) {
	e := startEngine(t)
	ctx := ctxT(t, 30*time.Second)
	for i, enc := range goEncodings {
		c := newGoClient(t, e.Endpoint, enc, nil)
		empty := c.GetOrCreate("chatRoom", nil)
		emptyPart := c.GetOrCreate("chatRoom", []string{""})
		for _, h := range []*client.Handle{empty, emptyPart} {
			if got := call[roomInfo](t, ctx, h, "getRoomInfo"); got != (roomInfo{}) {
				t.Errorf("%s: getRoomInfo = %+v, want empty", enc, got)
			}
		}
		call[message](t, ctx, empty, "sendMessage", string(enc))
		if got := call[[]message](t, ctx, emptyPart, "getMessages"); len(got) != 0 {
			t.Errorf("%s: the key [\"\"] sees the messages %+v of the empty key", enc, got)
		}
		got := call[[]message](t, ctx, c.Get("chatRoom", []string{}), "getMessages")
		if len(got) != i+1 || got[i].Text != string(enc) {
			t.Errorf("%s: empty key messages %+v", enc, got)
		}
		a, err := empty.Resolve(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, err := emptyPart.Resolve(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if a == b {
			t.Errorf("%s: [] and [\"\"] are the same actor %s", enc, a)
		}
	}
}

// TestGoClientConnParams: onBeforeConnect and createConnState with params.
func TestGoClientConnParams(t *testing.T) {
	e := startEngine(t)
	type params struct {
		Token string `json:"token"`
		Name  string `json:"name"`
	}
	eachEncoding(t, e.Endpoint, func(t *testing.T, c *client.Client) {
		t.Run("accepted", func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			key := []string{uniq("guarded")}
			handle := c.GetOrCreate("guarded", key, client.WithParams(params{"secret", "alice"}))
			alice := connect(t, ctx, handle)
			bob, err := c.GetOrCreate("guarded", key, client.WithParams(map[string]any{"token": "secret", "name": "bob"})).Connect(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer bob.Close()
			if who := call[string](t, ctx, alice, "whoAmI"); who != "alice" {
				t.Fatalf("alice.whoAmI = %q", who)
			}
			if who := call[string](t, ctx, bob, "whoAmI"); who != "bob" {
				t.Fatalf("bob.whoAmI = %q", who)
			}
			if n := call[int](t, ctx, alice, "connCount"); n != 2 {
				t.Fatalf("connCount = %d, want 2", n)
			}
			// HTTP actions carry the params too.
			if who := call[string](t, ctx, handle, "whoAmI"); who != "alice" {
				t.Fatalf("http whoAmI with params = %q, want alice", who)
			}
			bob.Close()
			waitUntil(t, 10*time.Second, 50*time.Millisecond, "connCount to drop to 1", func() (bool, error) {
				n, err := client.Call[int](ctx, alice, "connCount")
				return err == nil && n == 1, err
			})
		})

		t.Run("wrong token", func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			key := []string{uniq("guarded")}
			bad := c.GetOrCreate("guarded", key, client.WithParams(params{"wrong", "mallory"}))
			conn, err := bad.Connect(ctx)
			if err == nil {
				// The engine may accept the socket and fail the first action.
				defer conn.Close()
				_, err = client.Call[string](ctx, conn, "whoAmI")
				t.Logf("connect with a wrong token succeeded; the first action failed with %v", err)
			}
			ae := wantActorError(t, err, "user", "forbidden")
			if ae.Message != "Invalid token" {
				t.Errorf("message = %q, want %q", ae.Message, "Invalid token")
			}
			// Over HTTP the same params are rejected.
			_, err = client.Call[string](ctx, bad, "whoAmI")
			ae = wantActorError(t, err, "user", "forbidden")
			if ae.StatusCode != http.StatusBadRequest {
				t.Errorf("http status = %d, want 400", ae.StatusCode)
			}
			// The rejected connection was never counted.
			ok := connect(t, ctx, c.GetOrCreate("guarded", key, client.WithParams(params{"secret", "eve"})))
			if who := call[string](t, ctx, ok, "whoAmI"); who != "eve" {
				t.Fatalf("whoAmI = %q, want eve", who)
			}
			if n := call[int](t, ctx, ok, "connCount"); n != 1 {
				t.Fatalf("connCount = %d, want 1", n)
			}
		})

		t.Run("http without params", func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			_, err := client.Call[string](ctx, c.GetOrCreate("guarded", []string{uniq("guarded")}), "whoAmI")
			ae := wantActorError(t, err, "user", "forbidden")
			if ae.Message != "Invalid token" {
				t.Errorf("message = %q, want %q", ae.Message, "Invalid token")
			}
		})
	})
}

// TestGoClientSleepWake: sleepy sleeps after 300 ms idle and wakes with its
// state.
func TestGoClientSleepWake(t *testing.T) {
	e := startEngine(t)
	eachEncoding(t, e.Endpoint, func(t *testing.T, c *client.Client) {
		ctx := ctxT(t, 30*time.Second)
		sleepy := c.GetOrCreate("sleepy", []string{uniq("sleepy")})
		if n := call[int64](t, ctx, sleepy, "increment"); n != 1 {
			t.Fatalf("increment = %d, want 1", n)
		}
		if n := call[int64](t, ctx, sleepy, "increment"); n != 2 {
			t.Fatalf("increment = %d, want 2", n)
		}
		first := call[sleepyState](t, ctx, sleepy, "getState")
		if first.Count != 2 || first.Wakes < 1 {
			t.Fatalf("state = %+v, want count 2 and wakes >= 1", first)
		}
		// Every call keeps the actor awake for another 300 ms: poll slowly.
		var st sleepyState
		deadline := time.Now().Add(10 * time.Second)
		for {
			time.Sleep(time.Second)
			st = call[sleepyState](t, ctx, sleepy, "getState")
			if st.Sleeps >= 1 || time.Now().After(deadline) {
				break
			}
		}
		if st.Sleeps < 1 {
			t.Fatalf("the actor never slept within 10 s: %+v", st)
		}
		if st.Count != 2 {
			t.Fatalf("count after sleeping = %d, want 2 (%+v)", st.Count, st)
		}
		if st.Wakes < 2 || st.Wakes < st.Sleeps {
			t.Fatalf("state %+v: want wakes >= 2 and wakes >= sleeps after waking again", st)
		}
		if n := call[int64](t, ctx, sleepy, "increment"); n != 3 {
			t.Fatalf("increment after waking = %d, want 3", n)
		}
	})
}

// TestGoClientDestroy: destroySelf, client.Destroy, and a Conn following its
// key to the new actor.
func TestGoClientDestroy(t *testing.T) {
	e := startEngine(t)
	eachEncoding(t, e.Endpoint, func(t *testing.T, c *client.Client) {
		t.Run("destroySelf", func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			key := []string{uniq("life")}
			h := c.GetOrCreate("lifecycle", key)
			if v := call[any](t, ctx, h, "getValue"); v != nil {
				t.Fatalf("initial value = %#v, want nil", v)
			}
			if err := h.Action(ctx, "setValue", nil, 7); err != nil {
				t.Fatal(err)
			}
			if v := call[any](t, ctx, h, "getValue"); v != int64(7) {
				t.Fatalf("getValue = %#v, want 7", v)
			}
			oldID, err := c.Get("lifecycle", key).Resolve(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Action(ctx, "destroySelf", nil); err != nil {
				t.Fatal(err)
			}
			// Destruction may finish just after the reply; the old actor must
			// not serve the key once it is gone.
			fresh := c.GetOrCreate("lifecycle", key)
			waitUntil(t, 5*time.Second, 50*time.Millisecond, "getOrCreate to reach a new actor (value nil)", func() (bool, error) {
				v, err := client.Call[any](ctx, fresh, "getValue")
				return err == nil && v == nil, err
			})
			newID, err := fresh.Resolve(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if newID == oldID {
				t.Fatalf("the key still resolves to the destroyed actor %s", oldID)
			}
			if v := call[any](t, ctx, c.GetForID("lifecycle", newID), "getValue"); v != nil {
				t.Fatalf("new actor value = %#v, want nil", v)
			}
			wantActorError(t, c.GetForID("lifecycle", oldID).Action(ctx, "getValue", nil), "actor", "not_found")
		})

		t.Run("client.Destroy", func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			key := []string{uniq("life")}
			h := c.GetOrCreate("lifecycle", key)
			if err := h.Action(ctx, "setValue", nil, "one"); err != nil {
				t.Fatal(err)
			}
			id, err := h.Resolve(ctx)
			if err != nil {
				t.Fatal(err)
			}
			byID := c.GetForID("lifecycle", id)
			if v := call[string](t, ctx, byID, "getValue"); v != "one" {
				t.Fatalf("getValue = %q", v)
			}
			if err := c.Destroy(ctx, id); err != nil {
				t.Fatal(err)
			}
			// Once DELETE has answered, the actor is gone.
			wantActorError(t, byID.Action(ctx, "getValue", nil), "actor", "not_found")
			_, err = byID.Connect(ctx)
			wantActorError(t, err, "actor", "not_found")
			_, err = c.Get("lifecycle", key).Resolve(ctx)
			wantActorError(t, err, "actor", "not_found")
			// The key is free again.
			if v := call[any](t, ctx, h, "getValue"); v != nil {
				t.Fatalf("getOrCreate after destroy: value %#v, want nil", v)
			}
			if nid, err := h.Resolve(ctx); err != nil || nid == id {
				t.Fatalf("after destroy the key resolves to %q, %v (old id %q)", nid, err, id)
			}
		})

		t.Run("conn follows its key", func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			key := []string{uniq("life")}
			conn := connect(t, ctx, c.GetOrCreate("lifecycle", key),
				client.WithReconnect(50*time.Millisecond, 500*time.Millisecond, 0))
			oldID := conn.ActorID()
			if err := conn.Action(ctx, "setValue", nil, 5); err != nil {
				t.Fatal(err)
			}
			if err := conn.Action(ctx, "destroySelf", nil); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, 10*time.Second, 20*time.Millisecond, "the conn to reconnect to a new actor", func() (bool, error) {
				return conn.ActorID() != oldID && conn.ConnectionID() != "", nil
			})
			if v, err := client.Call[any](ctx, conn, "getValue"); err != nil || v != nil {
				t.Fatalf("getValue on the new actor = %#v, %v; want nil", v, err)
			}
		})
	})
}

// echoCase is a value sent through echo and the value expected back when
// decoded into an `any`.
type echoCase struct {
	name     string
	in, want any
}

func echoCases() []echoCase {
	two70 := new(big.Int).Lsh(big.NewInt(1), 70)
	negTwo65 := new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 65))
	two64 := new(big.Int).Lsh(big.NewInt(1), 64)
	long := strings.Repeat("x", 100_000)
	return []echoCase{
		{"nested map",
			map[string]any{"a": 1, "b": map[string]any{"c": []any{1, 2, map[string]any{"d": "e"}}}, "f": true, "g": false, "h": nil},
			map[string]any{"a": int64(1), "b": map[string]any{"c": []any{int64(1), int64(2), map[string]any{"d": "e"}}}, "f": true, "g": false, "h": nil}},
		{"array", []any{1, "two", []any{3, []any{4}}, map[string]any{"five": 5}, nil, true},
			[]any{int64(1), "two", []any{int64(3), []any{int64(4)}}, map[string]any{"five": int64(5)}, nil, true}},
		{"struct", message{"tagged"}, map[string]any{"text": "tagged"}},
		{"empty map", map[string]any{}, map[string]any{}},
		{"empty array", []any{}, []any{}},
		{"empty string", "", ""},
		{"unicode string", "héllo wörld — 日本語 🎉 \u0000 \U0001F600", "héllo wörld — 日本語 🎉 \u0000 \U0001F600"},
		{"long string", long, long},
		{"nil", nil, nil},
		{"true", true, true},
		{"false", false, false},
		{"zero", 0, int64(0)},
		{"negative int", -42, int64(-42)},
		{"int32 bounds", []any{math.MaxInt32, math.MinInt32}, []any{int64(math.MaxInt32), int64(math.MinInt32)}},
		{"int64 max", int64(math.MaxInt64), int64(math.MaxInt64)},
		{"int64 min", int64(math.MinInt64), int64(math.MinInt64)},
		{"uint64 max", uint64(math.MaxUint64), new(big.Int).SetUint64(math.MaxUint64)},
		{"float", 3.25, 3.25},
		{"negative float", -0.1, -0.1},
		{"non-integral large float", math.Pow(2, 40) + 0.5, math.Pow(2, 40) + 0.5},
		{"tiny float", 5e-324, 5e-324},
		{"max float", math.MaxFloat64, math.MaxFloat64},
		{"big.Int 2^70", *two70, two70},
		{"*big.Int -2^65", negTwo65, negTwo65},
		{"bytes", []byte{0, 1, 2, 127, 128, 254, 255}, []byte{0, 1, 2, 127, 128, 254, 255}},
		{"empty bytes", []byte{}, []byte{}},
		{"map with bigint and bytes", map[string]any{"n": two64, "bytes": []byte{9, 8, 7}},
			map[string]any{"n": two64, "bytes": []byte{9, 8, 7}}},
		{"array like a bigint tag", []any{"$BigInt", "123"}, []any{"$BigInt", "123"}},
		{"array like a bytes tag", []any{"$Uint8Array", "AAEC"}, []any{"$Uint8Array", "AAEC"}},
		{"array starting with $$", []any{"$$x", 1}, []any{"$$x", int64(1)}},
		{"tag-like array nested in a map", map[string]any{"v": []any{"$Undefined", 0}}, map[string]any{"v": []any{"$Undefined", int64(0)}}},
	}
}

// TestGoClientValues: echo round trips over HTTP and over a connection.
func TestGoClientValues(t *testing.T) {
	e := startEngine(t)
	eachEncoding(t, e.Endpoint, func(t *testing.T, c *client.Client) {
		run := func(t *testing.T, ctx context.Context, a client.ActionCaller) {
			for _, tc := range echoCases() {
				var got any
				if err := a.Action(ctx, "echo", &got, tc.in); err != nil {
					t.Errorf("%s: %v", tc.name, err)
					continue
				}
				if !sameValue(got, tc.want) {
					t.Errorf("%s: echo returned %s, want %s", tc.name, describe(got), describe(tc.want))
				}
			}
			// Typed outputs.
			two70 := new(big.Int).Lsh(big.NewInt(1), 70)
			if got := call[*big.Int](t, ctx, a, "echo", two70); got == nil || got.Cmp(two70) != 0 {
				t.Errorf("echo(2^70) into *big.Int = %v", got)
			}
			if got := call[int64](t, ctx, a, "echo", int64(math.MinInt64)); got != math.MinInt64 {
				t.Errorf("echo(MinInt64) into int64 = %d", got)
			}
			if got := call[uint64](t, ctx, a, "echo", uint64(math.MaxUint64)); got != math.MaxUint64 {
				t.Errorf("echo(MaxUint64) into uint64 = %d", got)
			}
			if got := call[float64](t, ctx, a, "echo", 3.25); got != 3.25 {
				t.Errorf("echo(3.25) into float64 = %v", got)
			}
			if got := call[[]byte](t, ctx, a, "echo", []byte("bytes\x00\xff")); !bytes.Equal(got, []byte("bytes\x00\xff")) {
				t.Errorf("echo(bytes) into []byte = %q", got)
			}
			if got := call[*string](t, ctx, a, "echo", nil); got != nil {
				t.Errorf("echo(nil) into *string = %q", *got)
			}
			// echoArgs returns the argument array.
			var args []any
			if err := a.Action(ctx, "echoArgs", &args, 1, "two", nil, []any{3}, map[string]any{"four": 4}, two70); err != nil {
				t.Fatal(err)
			}
			if want := []any{int64(1), "two", nil, []any{int64(3)}, map[string]any{"four": int64(4)}, two70}; !sameValue(args, want) {
				t.Errorf("echoArgs = %s, want %s", describe(args), describe(want))
			}
			args = nil
			if err := a.Action(ctx, "echoArgs", &args); err != nil || args == nil || len(args) != 0 {
				t.Errorf("echoArgs() = %#v, %v; want an empty array", args, err)
			}
		}
		t.Run("http", func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			run(t, ctx, c.GetOrCreate("echo", []string{uniq("echo")}))
		})
		t.Run("conn", func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			run(t, ctx, connect(t, ctx, c.GetOrCreate("echo", []string{uniq("echo")})))
		})
	})
}

// TestGoClientRaw: handle.Fetch to onRequest, handle.WebSocket to onWebSocket.
func TestGoClientRaw(t *testing.T) {
	e := startEngine(t)
	type echoed struct {
		Method string `json:"method"`
		Path   string `json:"path"`
		Query  string `json:"query"`
		Body   string `json:"body"`
	}
	fetch := func(t *testing.T, ctx context.Context, h *client.Handle, method, url, body string) (*http.Response, []byte) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, url, rd)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := h.Fetch(ctx, req)
		if err != nil {
			t.Fatalf("fetch %s %s: %v", method, url, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	wantEcho := func(t *testing.T, resp *http.Response, body []byte, want echoed) {
		t.Helper()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d (%s), want 200", resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "json") {
			t.Errorf("content-type %q, want JSON", ct)
		}
		var got echoed
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("response %q: %v", body, err)
		}
		if got != want {
			t.Errorf("onRequest saw %+v, want %+v", got, want)
		}
	}
	eachEncoding(t, e.Endpoint, func(t *testing.T, c *client.Client) {
		t.Run("fetch", func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			key := []string{uniq("raw")}
			raw := c.GetOrCreate("rawHttp", key)
			resp, body := fetch(t, ctx, raw, http.MethodPost, "/hello?x=1", "hi")
			wantEcho(t, resp, body, echoed{"POST", "/hello", "x=1", "hi"})
			resp, body = fetch(t, ctx, raw, http.MethodGet, "/a/b/c?b=2&a=1", "")
			wantEcho(t, resp, body, echoed{"GET", "/a/b/c", "b=2&a=1", ""})
			resp, body = fetch(t, ctx, raw, http.MethodGet, "/", "")
			wantEcho(t, resp, body, echoed{"GET", "/", "", ""})

			id, err := raw.Resolve(ctx)
			if err != nil {
				t.Fatal(err)
			}
			large := strings.Repeat("é", 50_000)
			resp, body = fetch(t, ctx, c.GetForID("rawHttp", id), http.MethodPut, "/upload", large)
			wantEcho(t, resp, body, echoed{"PUT", "/upload", "", large})
		})

		t.Run("status", func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			raw := c.GetOrCreate("rawHttp", []string{uniq("raw")})
			resp, body := fetch(t, ctx, raw, http.MethodGet, "/status/418", "")
			if resp.StatusCode != http.StatusTeapot || len(body) != 0 {
				t.Errorf("/status/418: status %d body %q, want 418 and no body", resp.StatusCode, body)
			}
			resp, body = fetch(t, ctx, raw, http.MethodPost, "/status/201", "x")
			if resp.StatusCode != http.StatusCreated || len(body) != 0 {
				t.Errorf("/status/201: status %d body %q, want 201 and no body", resp.StatusCode, body)
			}
		})

		t.Run("websocket", func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			raw := c.GetOrCreate("rawHttp", []string{uniq("raw")})
			ws, err := raw.WebSocket(ctx, "/echo")
			if err != nil {
				t.Fatal(err)
			}
			defer ws.CloseNow()
			roundTrip := func(typ websocket.MessageType, data []byte) {
				t.Helper()
				if err := ws.Write(ctx, typ, data); err != nil {
					t.Fatal(err)
				}
				gt, got, err := ws.Read(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if gt != typ || !bytes.Equal(got, data) {
					t.Fatalf("echo of a %v message of %d bytes: got %v of %d bytes", typ, len(data), gt, len(got))
				}
			}
			roundTrip(websocket.MessageText, []byte("hello"))
			roundTrip(websocket.MessageText, []byte("ünïcødé 🎉"))
			roundTrip(websocket.MessageBinary, []byte{0, 1, 2, 253, 254, 255})
			// Order is kept across a burst.
			for i := range 20 {
				if err := ws.Write(ctx, websocket.MessageText, []byte("n"+string(rune('a'+i)))); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 20 {
				_, got, err := ws.Read(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if want := "n" + string(rune('a'+i)); string(got) != want {
					t.Fatalf("burst message %d = %q, want %q", i, got, want)
				}
			}
			large := make([]byte, 200_000)
			for i := range large {
				large[i] = byte(i % 251)
			}
			roundTrip(websocket.MessageBinary, large)
			if err := ws.Close(websocket.StatusNormalClosure, "done"); err != nil {
				t.Errorf("close: %v", err)
			}

			// A path with a query string reaches onWebSocket too.
			ws2, err := raw.WebSocket(ctx, "/some/path?room=1")
			if err != nil {
				t.Fatal(err)
			}
			defer ws2.CloseNow()
			if err := ws2.Write(ctx, websocket.MessageText, []byte("ping")); err != nil {
				t.Fatal(err)
			}
			if _, got, err := ws2.Read(ctx); err != nil || string(got) != "ping" {
				t.Fatalf("read %q, %v; want ping", got, err)
			}
			ws2.Close(websocket.StatusNormalClosure, "done")
		})
	})
}

// TestGoClientKV: the actor KV through the kv actor.
func TestGoClientKV(t *testing.T) {
	e := startEngine(t)
	eachEncoding(t, e.Endpoint, func(t *testing.T, c *client.Client) {
		ctx := ctxT(t, 30*time.Second)
		kv := c.GetOrCreate("kv", []string{uniq("kv")})
		for _, p := range [][2]string{{"a/1", "x"}, {"a/2", "y"}, {"b/1", "z"}, {"a", "not under a/"}} {
			if err := kv.Action(ctx, "put", nil, p[0], p[1]); err != nil {
				t.Fatal(err)
			}
		}
		if v := call[*string](t, ctx, kv, "get", "a/1"); v == nil || *v != "x" {
			t.Fatalf("get(a/1) = %v, want x", v)
		}
		if v := call[any](t, ctx, kv, "get", "nope"); v != nil {
			t.Fatalf("get(nope) = %#v, want nil", v)
		}
		wantPairs := func(action string, want [][2]string, args ...any) {
			t.Helper()
			got := call[[][2]string](t, ctx, kv, action, args...)
			if len(got) == 0 && len(want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s%q = %q, want %q", action, args, got, want)
			}
		}
		wantPairs("list", [][2]string{{"a/1", "x"}, {"a/2", "y"}}, "a/")
		wantPairs("range", [][2]string{{"a/2", "y"}, {"b/1", "z"}}, "a/2", "b/2")
		wantPairs("range", [][2]string{{"a/1", "x"}}, "a/1", "a/2") // end is exclusive
		wantPairs("list", [][2]string{{"a", "not under a/"}, {"a/1", "x"}, {"a/2", "y"}}, "a")
		wantPairs("list", nil, "c")

		if err := kv.Action(ctx, "del", nil, "a/1"); err != nil {
			t.Fatal(err)
		}
		if v := call[*string](t, ctx, kv, "get", "a/1"); v != nil {
			t.Fatalf("get(a/1) after del = %q, want nil", *v)
		}
		wantPairs("list", [][2]string{{"a/2", "y"}}, "a/")
		// Overwrite.
		if err := kv.Action(ctx, "put", nil, "a/2", "y2"); err != nil {
			t.Fatal(err)
		}
		if v := call[*string](t, ctx, kv, "get", "a/2"); v == nil || *v != "y2" {
			t.Fatalf("get(a/2) after overwrite = %v, want y2", v)
		}
		// The list result is an array of [key, value] arrays, not a map.
		var raw any
		if err := kv.Action(ctx, "list", &raw, "b/"); err != nil {
			t.Fatal(err)
		}
		if want := []any{[]any{"b/1", "z"}}; !reflect.DeepEqual(raw, want) {
			t.Fatalf("list(b/) = %#v, want %#v", raw, want)
		}
		// Another actor has its own KV.
		if v := call[*string](t, ctx, c.GetOrCreate("kv", []string{uniq("kv")}), "get", "a/2"); v != nil {
			t.Fatalf("another actor sees a/2 = %q", *v)
		}
	})
}

// TestGoClientLimits: action timeout, masked internal errors, oversized and
// malformed input straight to the gateway and through the client.
func TestGoClientLimits(t *testing.T) {
	e := startEngine(t)
	const twoMiB = 2 << 20
	// The per-encoding subtests are grouped so that they have all finished
	// before "still serving" runs.
	t.Run("encodings", func(t *testing.T) {
		eachEncoding(t, e.Endpoint, func(t *testing.T, c *client.Client) {
			t.Run("action timeout", func(t *testing.T) {
				t.Parallel()
				ctx := ctxT(t, 30*time.Second)
				check := func(t *testing.T, a client.ActionCaller) {
					if n := call[int64](t, ctx, a, "slow", 50); n != 50 {
						t.Fatalf("slow(50) = %d", n)
					}
					start := time.Now()
					_, err := client.Call[int64](ctx, a, "slow", 10_000)
					elapsed := time.Since(start)
					wantActorError(t, err, "actor", "action_timed_out")
					if elapsed < 1500*time.Millisecond || elapsed > 9*time.Second {
						t.Errorf("timed out after %v; the fixture action timeout is 2 s", elapsed)
					}
					if s := call[string](t, ctx, a, "echo", "after timeout"); s != "after timeout" {
						t.Fatalf("echo after the timeout = %q", s)
					}
				}
				h := c.GetOrCreate("echo", []string{uniq("echo")})
				check(t, h)
				check(t, connect(t, ctx, h))
			})

			t.Run("internal error is masked", func(t *testing.T) {
				t.Parallel()
				ctx := ctxT(t, 30*time.Second)
				h := c.GetOrCreate("echo", []string{uniq("echo")})
				check := func(err error, status int) {
					t.Helper()
					ae := wantActorError(t, err, "actor", "internal_error")
					if ae.Message != "An internal error occurred" {
						t.Errorf("message = %q, want %q", ae.Message, "An internal error occurred")
					}
					if ae.StatusCode != status {
						t.Errorf("status = %d, want %d", ae.StatusCode, status)
					}
					text := err.Error() + " " + ae.Message + " " + string(ae.Metadata)
					for _, secret := range []string{"hunter2", "database password"} {
						if strings.Contains(text, secret) {
							t.Errorf("the error leaks %q: %s", secret, text)
						}
					}
				}
				check(h.Action(ctx, "failInternal", nil), http.StatusInternalServerError)
				if n := call[int64](t, ctx, h, "echo", 1); n != 1 {
					t.Fatalf("echo after failInternal = %d", n)
				}
				conn := connect(t, ctx, h)
				check(conn.Action(ctx, "failInternal", nil), 0)
				if n := call[int64](t, ctx, conn, "slow", 20); n != 20 {
					t.Fatalf("slow(20) after failInternal = %d", n)
				}
			})

			t.Run("oversized HTTP body", func(t *testing.T) {
				t.Parallel()
				ctx := ctxT(t, 30*time.Second)
				enc := encodingOf(t)
				var body []byte
				if enc == client.EncodingJSON {
					body = []byte(`{"args":["` + strings.Repeat("x", twoMiB) + `"]}`)
				} else {
					body = bytes.Repeat([]byte{0x41}, twoMiB)
				}
				resp, eb := postGateway(t, ctx, e.Endpoint, uniq("raw-413"), string(enc), body)
				if resp.StatusCode != http.StatusRequestEntityTooLarge || eb.Group != "message" || eb.Code != "incoming_too_long" {
					t.Errorf("2 MiB %s body: status %d, error %s/%s; want 413 message/incoming_too_long", enc, resp.StatusCode, eb.Group, eb.Code)
				}
				// Through the client.
				h := c.GetOrCreate("echo", []string{uniq("big")})
				ae := wantActorError(t, h.Action(ctx, "echo", nil, strings.Repeat("x", twoMiB)), "message", "incoming_too_long")
				if ae.StatusCode != http.StatusRequestEntityTooLarge {
					t.Errorf("client: status %d, want 413", ae.StatusCode)
				}
				if s := call[string](t, ctx, h, "echo", "small"); s != "small" {
					t.Fatalf("echo after the oversized call = %q", s)
				}
				// Just under the limit is accepted.
				half := strings.Repeat("y", 512<<10)
				if s := call[string](t, ctx, h, "echo", half); s != half {
					t.Fatalf("echo of 512 KiB returned %d bytes", len(s))
				}
			})

			t.Run("oversized WebSocket frame", func(t *testing.T) {
				t.Parallel()
				ctx := ctxT(t, 30*time.Second)
				enc := encodingOf(t)
				penc, err := protocol.ParseEncoding(string(enc))
				if err != nil {
					t.Fatal(err)
				}
				url := "ws" + strings.TrimPrefix(e.Endpoint, "http") + "/gateway/echo/connect?rvt-namespace=default&rvt-method=getOrCreate&rvt-runner=default&rvt-key=" + uniq("ws-big") + "&rvt-crash-policy=sleep"
				ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"rivet", "rivet_encoding." + string(enc)}})
				if err != nil {
					t.Fatal(err)
				}
				defer ws.CloseNow()
				ws.SetReadLimit(16 << 20)
				if ws.Subprotocol() != "rivet" {
					t.Errorf("subprotocol %q, want rivet", ws.Subprotocol())
				}
				readMsg := func() (protocol.ToClient, error) {
					_, data, err := ws.Read(ctx)
					if err != nil {
						return protocol.ToClient{}, err
					}
					return protocol.DecodeToClient(penc, data)
				}
				msgType := websocket.MessageText
				if penc.Binary() {
					msgType = websocket.MessageBinary
				}
				send := func(id uint64, arg string) error {
					args, err := protocol.JSONToValue([]byte(`["` + arg + `"]`))
					if err != nil {
						t.Fatal(err)
					}
					frame, err := protocol.EncodeToServer(penc, protocol.ToServer{Action: &protocol.ActionRequest{ID: id, Name: "echo", Args: args}})
					if err != nil {
						t.Fatal(err)
					}
					return ws.Write(ctx, msgType, frame)
				}
				m, err := readMsg()
				if err != nil || m.Init == nil || m.Init.ActorID == "" || m.Init.ConnectionID == "" {
					t.Fatalf("first message %+v, %v; want Init", m, err)
				}
				if err := send(0, "ping"); err != nil {
					t.Fatal(err)
				}
				m, err = readMsg()
				if err != nil || m.ActionResponse == nil || m.ActionResponse.ID != 0 {
					t.Fatalf("reply %+v, %v; want ActionResponse 0", m, err)
				}
				_ = send(1, strings.Repeat("x", twoMiB)) // the server may close while we write
				start := time.Now()
				for {
					m, err := readMsg()
					if err != nil {
						t.Logf("closed after %v: %v (status %d)", time.Since(start), err, websocket.CloseStatus(err))
						if ctx.Err() != nil {
							t.Fatal("the connection was not closed")
						}
						if st := websocket.CloseStatus(err); st != websocket.StatusMessageTooBig {
							t.Errorf("close status %d, want %d (message too big)", st, websocket.StatusMessageTooBig)
						}
						break
					}
					if m.ActionResponse != nil {
						t.Fatalf("the oversized action ran: %+v", m.ActionResponse)
					}
				}
				// Through the client: the conn's call fails, the conn reconnects.
				conn := connect(t, ctx, c.GetOrCreate("echo", []string{uniq("big")}),
					client.WithReconnect(50*time.Millisecond, 500*time.Millisecond, 0))
				if s := call[string](t, ctx, conn, "echo", "before"); s != "before" {
					t.Fatalf("echo = %q", s)
				}
				if err := conn.Action(ctx, "echo", nil, strings.Repeat("x", twoMiB)); err == nil {
					t.Fatal("an oversized action over a connection succeeded")
				} else if !errors.Is(err, client.ErrConnectionLost) {
					t.Errorf("oversized action: %v, want ErrConnectionLost", err)
				}
				if s := call[string](t, ctx, conn, "echo", "after"); s != "after" {
					t.Fatalf("echo after reconnecting = %q", s)
				}
			})
		})
	})

	// Malformed input, raw requests. These do not depend on the client.
	t.Run("malformed", func(t *testing.T) {
		ctx := ctxT(t, 30*time.Second)
		key := uniq("raw")
		// Positive controls.
		resp, body := postGatewayRaw(t, ctx, e.Endpoint, key, "json", []byte(`{"args":["ok"]}`))
		if resp.StatusCode != 200 || string(body) != `{"output":"ok"}` {
			t.Errorf("json control: %d %s", resp.StatusCode, body)
		}
		resp, body = postGatewayRaw(t, ctx, e.Endpoint, key, "bare", []byte{0x04, 0x00, 0x02, 0x81, 0x05})
		if resp.StatusCode != 200 || !bytes.Equal(body, []byte{0x04, 0x00, 0x01, 0x05}) {
			t.Errorf("bare control: %d %x", resp.StatusCode, body)
		}

		for _, tc := range []struct {
			name, enc   string
			body        []byte
			group, code string // "" = any structured error
		}{
			{"bad JSON", "json", []byte("{not json"), "message", "malformed"},
			{"JSON args not an array", "json", []byte(`{"args":1}`), "message", "malformed"},
			{"BARE wrong version", "bare", []byte{0x63, 0x00, 0x02, 0x81, 0x05}, "", ""},
			{"BARE truncated", "bare", []byte{0x04, 0x00, 0x09, 0x81}, "", ""},
			{"CBOR garbage", "cbor", []byte{0xff, 0x00}, "", ""},
			{"unknown encoding", "yaml", []byte(`{"args":[1]}`), "", ""},
		} {
			resp, eb := postGateway(t, ctx, e.Endpoint, key, tc.enc, tc.body)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: status %d, want 400", tc.name, resp.StatusCode)
			}
			if eb.Group == "" || eb.Code == "" || eb.Message == "" {
				t.Errorf("%s: error body %+v is not a structured error", tc.name, eb)
			}
			if tc.group != "" && (eb.Group != tc.group || eb.Code != tc.code) {
				t.Errorf("%s: error %s/%s, want %s/%s", tc.name, eb.Group, eb.Code, tc.group, tc.code)
			}
		}
	})

	t.Run("still serving", func(t *testing.T) {
		ctx := ctxT(t, 30*time.Second)
		c := newGoClient(t, e.Endpoint, client.EncodingBARE, nil)
		if s := call[string](t, ctx, c.GetOrCreate("echo", []string{uniq("after")}), "echo", "still alive"); s != "still alive" {
			t.Fatalf("echo = %q", s)
		}
		conn := connect(t, ctx, c.GetOrCreate("counter", []string{uniq("after")}))
		if n := call[int64](t, ctx, conn, "increment", 4); n != 4 {
			t.Fatalf("increment = %d", n)
		}
	})
}

// postGatewayRaw posts body to the echo action of the actor echo[key]
// through the query route, with the encoding header enc.
func postGatewayRaw(t *testing.T, ctx context.Context, endpoint, key, enc string, body []byte) (*http.Response, []byte) {
	t.Helper()
	url := endpoint + "/gateway/echo/action/echo?rvt-namespace=default&rvt-method=getOrCreate&rvt-runner=default&rvt-key=" + key + "&rvt-crash-policy=sleep"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-rivet-encoding", enc)
	if enc == "json" {
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// postGateway is postGatewayRaw for a request that must fail: it decodes
// the error body (JSON when the content type says so, else the request's
// encoding).
func postGateway(t *testing.T, ctx context.Context, endpoint, key, enc string, body []byte) (*http.Response, protocol.ErrorBody) {
	t.Helper()
	resp, b := postGatewayRaw(t, ctx, endpoint, key, enc, body)
	penc := protocol.EncodingJSON
	if !strings.Contains(resp.Header.Get("Content-Type"), "application/json") {
		if p, err := protocol.ParseEncoding(enc); err == nil {
			penc = p
		}
	}
	eb, err := protocol.DecodeErrorBody(penc, b)
	if err != nil {
		t.Errorf("%s request: status %d, error body %q (content-type %q) does not decode: %v",
			enc, resp.StatusCode, truncate(b), resp.Header.Get("Content-Type"), err)
	}
	return resp, eb
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// TestGoClientReconnect: Conns survive an engine restart on the same data
// directory: they reconnect, resubscribe, and the state is kept.
func TestGoClientReconnect(t *testing.T) {
	addr, dir := freeAddr(t), t.TempDir()
	p := startEngineAt(t, addr, dir)
	ctx := ctxT(t, 60*time.Second)

	type side struct {
		enc    client.Encoding
		c      *client.Client
		key    string
		conn   *client.Conn
		events *eventLog[int64]
		opens  atomic.Int32
		closed chan error
		result chan error
		n      int64
	}
	var sides []*side
	for _, enc := range goEncodings {
		s := &side{enc: enc, c: newGoClient(t, p.Endpoint, enc, nil), key: uniq("reconnect"), closed: make(chan error, 16), result: make(chan error, 1)}
		s.conn = connect(t, ctx, s.c.GetOrCreate("counter", []string{s.key}),
			client.WithReconnect(50*time.Millisecond, 300*time.Millisecond, 0),
			client.WithOnOpen(func() { s.opens.Add(1) }),
			client.WithOnClose(func(err error) { s.closed <- err }))
		s.events = recordEvents[int64](s.conn, "count")
		if n := call[int64](t, ctx, s.conn, "increment", 1); n != 1 {
			t.Fatalf("%s: increment = %d, want 1", enc, n)
		}
		s.events.wait(t, 1, 5*time.Second)
		sides = append(sides, s)
	}
	ids := make([]string, len(sides))
	for i, s := range sides {
		ids[i] = s.conn.ActorID()
	}

	p.kill()
	for _, s := range sides {
		select {
		case err := <-s.closed:
			t.Logf("%s: connection lost: %v", s.enc, err)
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the conn did not notice the engine was killed", s.enc)
		}
		// A call made while disconnected waits for the new connection.
		go func() { s.result <- s.conn.Action(ctx, "increment", &s.n, 1) }()
	}

	startEngineAt(t, addr, dir)
	for i, s := range sides {
		t.Run(string(s.enc), func(t *testing.T) {
			select {
			case err := <-s.result:
				if err != nil || s.n != 2 {
					t.Fatalf("increment across the restart = %d, %v; want 2", s.n, err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the call waiting for the reconnection did not complete")
			}
			if got := s.opens.Load(); got != 2 {
				t.Errorf("%d opens, want 2", got)
			}
			if s.conn.ActorID() != ids[i] {
				t.Errorf("actor id %q after the restart, want %q", s.conn.ActorID(), ids[i])
			}
			// The subscription was renewed: both the conn's own action and an
			// HTTP action broadcast to it.
			s.events.wait(t, 2, 5*time.Second)
			hc := newGoClient(t, p.Endpoint, s.enc, nil)
			if n := call[int64](t, ctx, hc.GetOrCreate("counter", []string{s.key}), "increment", 10); n != 12 {
				t.Fatalf("http increment = %d, want 12", n)
			}
			if got := s.events.wait(t, 3, 5*time.Second); !slices.Equal(got, []int64{1, 2, 12}) {
				t.Errorf("events %v, want [1 2 12]", got)
			}
			if n := call[int64](t, ctx, s.conn, "getCount"); n != 12 {
				t.Errorf("getCount = %d, want 12", n)
			}
			if s.conn.Err() != nil {
				t.Errorf("conn.Err() = %v", s.conn.Err())
			}
		})
	}
}

// TestGoClientConcurrentIncrements: 32 goroutines x 20 HTTP increments on
// one counter; the mailbox serializes them.
func TestGoClientConcurrentIncrements(t *testing.T) {
	e := startEngine(t)
	const workers, perWorker = 32, 20
	eachEncoding(t, e.Endpoint, func(t *testing.T, c *client.Client) {
		ctx := ctxT(t, 60*time.Second)
		key := []string{uniq("concurrent")}
		h := c.GetOrCreate("counter", key)
		if _, err := h.Resolve(ctx); err != nil { // create it before the rush
			t.Fatal(err)
		}
		results := make(chan int64, workers*perWorker)
		errc := make(chan error, workers)
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range perWorker {
					n, err := client.Call[int64](ctx, c.GetOrCreate("counter", key), "increment", 1)
					if err != nil {
						errc <- err
						return
					}
					results <- n
				}
			}()
		}
		wg.Wait()
		close(results)
		close(errc)
		for err := range errc {
			t.Error(err)
		}
		// Every increment saw a distinct count: 1..640, each exactly once.
		seen := make([]bool, workers*perWorker+1)
		for n := range results {
			if n < 1 || n > workers*perWorker || seen[n] {
				t.Fatalf("increment returned %d twice or out of range", n)
			}
			seen[n] = true
		}
		for n := 1; n <= workers*perWorker; n++ {
			if !seen[n] {
				t.Fatalf("no increment returned %d", n)
			}
		}
		if n := call[int64](t, ctx, h, "getCount"); n != workers*perWorker {
			t.Fatalf("getCount = %d, want %d", n, workers*perWorker)
		}
	})
}
