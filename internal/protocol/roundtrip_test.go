package protocol

import (
	"errors"
	"math"
	"reflect"
	"testing"
)

// stableValues survive every encoding unchanged (JSON carries numbers as
// doubles, so a float that holds an integer would come back as an integer,
// and a Map or Date has no JSON form).
var stableValues = []string{
	`5`, `-7`, `1.5`, `4294967296`, `1e+21`, `null`, `true`, `"héllo \u0000 \""`, `[]`, `{}`,
	`["$BigInt","123"]`, `["$BigInt","-1"]`, `["$BigInt","1180591620717411303424"]`,
	`["$Uint8Array","AQID"]`, `["$Undefined",0]`, `["$Set",[1,["$$x",2]]]`,
	`["$$x",1]`, `["$$$y",["$$z",["$Undefined",0]]]`, `["$x",1,2]`,
	`{"a":{"b":[1,{"c":["$BigInt","5"]}]},"$":"d"}`,
}

// binaryValues (hex) survive BARE and CBOR but not JSON.
var binaryValues = []string{
	"f9 3e00", "fa 3fc00000", "fb 4014000000000000", "fb 7ff8000000000000", "c1 1a 5fee6600",
	"d9 0103 a2 01 61 61 1b 0000000000000002 82 62 2478 01", `a1 01 61 "a"`, `a1 81 01 02`,
	`d9 0102 81 82 62 "$x" 01`, `d8 63 82 62 "$x" 01`, "f8 20", "f0",
}

func canonicalSamples(t *testing.T, enc Encoding) [][]byte {
	var out [][]byte
	for _, j := range stableValues {
		out = append(out, cv(t, j))
	}
	if enc != EncodingJSON {
		for _, h := range binaryValues {
			out = append(out, hx(t, h))
		}
	}
	return out
}

func argsSamples(t *testing.T, enc Encoding) [][]byte {
	var out [][]byte
	for _, v := range canonicalSamples(t, enc) {
		out = append(out, append(hx(t, "82 01"), v...))
	}
	return append(out, hx(t, "80"))
}

func TestRoundTrip(t *testing.T) {
	for _, enc := range allEncodings {
		t.Run(enc.String(), func(t *testing.T) {
			values, args := canonicalSamples(t, enc), argsSamples(t, enc)
			check := func(name string, m any, encode func() ([]byte, error), decode func([]byte) (any, error)) {
				t.Helper()
				b, err := encode()
				if err != nil {
					t.Errorf("%s: encode %+v: %v", name, m, err)
					return
				}
				got, err := decode(b)
				if err != nil {
					t.Errorf("%s: decode %q: %v", name, b, err)
					return
				}
				if !reflect.DeepEqual(got, m) {
					t.Errorf("%s: round trip of %+v gave %+v (wire %q)", name, m, got, b)
				}
			}
			for _, a := range args {
				m := HTTPActionRequest{Args: a}
				check("http action request", m, func() ([]byte, error) { return EncodeHTTPActionRequest(enc, m) },
					func(b []byte) (any, error) { return DecodeHTTPActionRequest(enc, b) })
				ts := ToServer{Action: &ActionRequest{ID: math.MaxUint64, Name: "act", Args: a}}
				check("action request", ts, func() ([]byte, error) { return EncodeToServer(enc, ts) },
					func(b []byte) (any, error) { return DecodeToServer(enc, b) })
				tc := ToClient{Event: &Event{Name: "ev", Args: a}}
				check("event", tc, func() ([]byte, error) { return EncodeToClient(enc, tc) },
					func(b []byte) (any, error) { return DecodeToClient(enc, b) })
			}
			for _, v := range values {
				m := HTTPActionResponse{Output: v}
				check("http action response", m, func() ([]byte, error) { return EncodeHTTPActionResponse(enc, m) },
					func(b []byte) (any, error) { return DecodeHTTPActionResponse(enc, b) })
				q := HTTPQueueSendRequest{Body: v, Name: ptr("jobs"), Wait: ptr(true), Timeout: ptr(uint64(1)<<53 - 1)}
				check("queue request", q, func() ([]byte, error) { return EncodeHTTPQueueSendRequest(enc, q) },
					func(b []byte) (any, error) { return DecodeHTTPQueueSendRequest(enc, b) })
				qr := HTTPQueueSendResponse{Status: "timedOut", Response: v}
				check("queue response", qr, func() ([]byte, error) { return EncodeHTTPQueueSendResponse(enc, qr) },
					func(b []byte) (any, error) { return DecodeHTTPQueueSendResponse(enc, b) })
				eb := ErrorBody{Group: "g", Code: "c", Message: "m", Metadata: v,
					Actor: &ActorSpecifier{ActorID: "a", Generation: math.MaxUint64, Key: ptr("k/\\0")}}
				check("error body", eb, func() ([]byte, error) { return EncodeErrorBody(enc, eb) },
					func(b []byte) (any, error) { return DecodeErrorBody(enc, b) })
				ar := ToClient{ActionResponse: &ActionResponse{ID: 1 << 60, Output: v}}
				check("action response", ar, func() ([]byte, error) { return EncodeToClient(enc, ar) },
					func(b []byte) (any, error) { return DecodeToClient(enc, b) })
				em := ToClient{Error: &ErrorMessage{Group: "g", Code: "c", Message: "m", Metadata: v, ActionID: ptr(uint64(0)),
					Actor: &ActorSpecifier{ActorID: "a", Generation: 1}}}
				check("error message", em, func() ([]byte, error) { return EncodeToClient(enc, em) },
					func(b []byte) (any, error) { return DecodeToClient(enc, b) })
			}
			for _, m := range []any{
				ToServer{Subscription: &SubscriptionRequest{EventName: "e", Subscribe: true}},
				ToServer{Subscription: &SubscriptionRequest{EventName: "", Subscribe: false}},
				ToClient{Init: &Init{ActorID: "actor", ConnectionID: "conn"}},
				ToClient{Error: &ErrorMessage{Group: "g", Code: "c", Message: "m"}},
				HTTPQueueSendRequest{Body: []byte{0xf6}},
				HTTPQueueSendResponse{Status: "completed"},
				ErrorBody{Group: "g", Code: "c", Message: ""},
				ErrorBody{Group: "g", Code: "c", Message: "m", Actor: &ActorSpecifier{ActorID: "a", Generation: 1 << 53}},
				ErrorBody{Group: "g", Code: "c", Message: "m", Actor: &ActorSpecifier{ActorID: "a", Generation: 1<<53 + 1}},
			} {
				switch m := m.(type) {
				case ToServer:
					check("to-server", m, func() ([]byte, error) { return EncodeToServer(enc, m) },
						func(b []byte) (any, error) { return DecodeToServer(enc, b) })
				case ToClient:
					check("to-client", m, func() ([]byte, error) { return EncodeToClient(enc, m) },
						func(b []byte) (any, error) { return DecodeToClient(enc, b) })
				case HTTPQueueSendRequest:
					check("queue request", m, func() ([]byte, error) { return EncodeHTTPQueueSendRequest(enc, m) },
						func(b []byte) (any, error) { return DecodeHTTPQueueSendRequest(enc, b) })
				case HTTPQueueSendResponse:
					check("queue response", m, func() ([]byte, error) { return EncodeHTTPQueueSendResponse(enc, m) },
						func(b []byte) (any, error) { return DecodeHTTPQueueSendResponse(enc, b) })
				case ErrorBody:
					check("error body", m, func() ([]byte, error) { return EncodeErrorBody(enc, m) },
						func(b []byte) (any, error) { return DecodeErrorBody(enc, b) })
				}
			}
		})
	}
}

// Empty Output/Body stand for undefined and empty Args for no arguments.
func TestEncodeDefaults(t *testing.T) {
	for _, enc := range allEncodings {
		b, err := EncodeHTTPActionResponse(enc, HTTPActionResponse{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := DecodeHTTPActionResponse(enc, b)
		if err != nil || string(r.Output) != "\xf7" {
			t.Errorf("%s: empty output = %x, %v", enc, r.Output, err)
		}
		b, err = EncodeToServer(enc, ToServer{Action: &ActionRequest{Name: "a"}})
		if err != nil {
			t.Fatal(err)
		}
		s, err := DecodeToServer(enc, b)
		if err != nil || string(s.Action.Args) != "\x80" {
			t.Errorf("%s: empty args = %+v, %v", enc, s.Action, err)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	for _, enc := range allEncodings {
		bad := []struct {
			name string
			f    func() ([]byte, error)
		}{
			{"two to-server fields", func() ([]byte, error) {
				return EncodeToServer(enc, ToServer{Action: &ActionRequest{}, Subscription: &SubscriptionRequest{}})
			}},
			{"no to-server field", func() ([]byte, error) { return EncodeToServer(enc, ToServer{}) }},
			{"no to-client field", func() ([]byte, error) { return EncodeToClient(enc, ToClient{}) }},
			{"two to-client fields", func() ([]byte, error) {
				return EncodeToClient(enc, ToClient{Init: &Init{}, Event: &Event{}})
			}},
			{"args not array", func() ([]byte, error) { return EncodeHTTPActionRequest(enc, HTTPActionRequest{Args: []byte{1}}) }},
			{"output not cbor", func() ([]byte, error) {
				return EncodeHTTPActionResponse(enc, HTTPActionResponse{Output: []byte{0xff}})
			}},
			{"output trailing", func() ([]byte, error) {
				return EncodeHTTPActionResponse(enc, HTTPActionResponse{Output: []byte{1, 2}})
			}},
			{"bad status", func() ([]byte, error) {
				return EncodeHTTPQueueSendResponse(enc, HTTPQueueSendResponse{Status: "done"})
			}},
			{"invalid utf-8", func() ([]byte, error) {
				return EncodeToClient(enc, ToClient{Init: &Init{ActorID: "\xff"}})
			}},
		}
		for _, tc := range bad {
			if _, err := tc.f(); err == nil {
				t.Errorf("%s/%s: no error", enc, tc.name)
			}
		}
	}
	if _, err := EncodeHTTPQueueSendRequest(EncodingJSON, HTTPQueueSendRequest{Timeout: ptr(uint64(1) << 60)}); err == nil {
		t.Error("json timeout above 2^53: no error")
	}
	if _, err := EncodeToServer(Encoding(9), ToServer{Subscription: &SubscriptionRequest{}}); err == nil {
		t.Error("unknown encoding: no error")
	}
	if _, err := DecodeToServer(Encoding(9), nil); err == nil {
		t.Error("unknown encoding: no decode error")
	}
}

func TestDocMalformed(t *testing.T) {
	toServer := []string{
		``, `null`, `[]`, `{}`, `{"body":1}`, `{"body":{}}`, `{"body":{"tag":"Nope","val":{}}}`,
		`{"body":{"tag":"ActionRequest"}}`, `{"body":{"tag":"ActionRequest","val":[]}}`,
		`{"body":{"tag":"ActionRequest","val":{"name":"n","args":[]}}}`,
		`{"body":{"tag":"ActionRequest","val":{"id":1,"args":[]}}}`,
		`{"body":{"tag":"ActionRequest","val":{"id":1,"name":5,"args":[]}}}`,
		`{"body":{"tag":"ActionRequest","val":{"id":1,"name":"n"}}}`,
		`{"body":{"tag":"ActionRequest","val":{"id":1,"name":"n","args":5}}}`,
		`{"body":{"tag":"ActionRequest","val":{"id":1,"name":"n","args":[["$Nope",1]]}}}`,
		`{"body":{"tag":"SubscriptionRequest","val":{"eventName":"e","subscribe":1}}}`,
		`{"body":{"tag":"SubscriptionRequest","val":{"eventName":"e"}}}`,
		`{"body":{"tag":"SubscriptionRequest","val":{"eventName":"e","subscribe":true}}} x`,
		`{"body":{"tag":"SubscriptionRequest","val":{"eventName":"e","subscribe":true}},"body":1}`,
	}
	for _, doc := range toServer {
		if _, err := DecodeToServer(EncodingJSON, []byte(doc)); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeToServer(%s): err = %v, want ErrMalformed", doc, err)
		}
	}
	for _, doc := range []string{
		`{"status":"done"}`, `{"status":1}`, `{}`,
	} {
		if _, err := DecodeHTTPQueueSendResponse(EncodingJSON, []byte(doc)); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeHTTPQueueSendResponse(%s): err = %v, want ErrMalformed", doc, err)
		}
	}
	for _, doc := range []string{
		`{"body":1,"timeout":-1}`, `{"body":1,"timeout":"5"}`, `{"body":1,"timeout":1e300}`, `{"body":1,"wait":"yes"}`,
		`{"body":1,"name":5}`,
	} {
		if _, err := DecodeHTTPQueueSendRequest(EncodingJSON, []byte(doc)); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeHTTPQueueSendRequest(%s): err = %v, want ErrMalformed", doc, err)
		}
	}
	for _, doc := range []string{
		`{"group":"g","code":"c"}`, `{"group":"g","code":"c","message":"m","actor":{"actorId":"a"}}`,
		`{"group":"g","code":"c","message":"m","actor":{"actorId":"a","generation":-1}}`,
		`{"group":"g","code":"c","message":"m","actor":5}`,
	} {
		if _, err := DecodeErrorBody(EncodingJSON, []byte(doc)); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeErrorBody(%s): err = %v, want ErrMalformed", doc, err)
		}
	}
}

// Optional members may be absent, null or undefined; unknown members are
// ignored; a fractional timeout is truncated.
func TestDocLenient(t *testing.T) {
	q, err := DecodeHTTPQueueSendRequest(EncodingJSON, []byte(`{"body":1,"name":null,"timeout":2.9,"extra":[1]}`))
	if err != nil || q.Name != nil || q.Wait != nil || q.Timeout == nil || *q.Timeout != 2 {
		t.Errorf("queue = %+v, %v", q, err)
	}
	// rivetkit's CBOR keeps "timeout": undefined.
	q, err = DecodeHTTPQueueSendRequest(EncodingCBOR, hx(t, `b9 0004 64 "body" 01 64 "name" 64 "jobs" 64 "wait" f4 67 "timeout" f7`))
	if err != nil || q.Timeout != nil || *q.Name != "jobs" || *q.Wait {
		t.Errorf("cbor queue = %+v, %v", q, err)
	}
	e, err := DecodeErrorBody(EncodingJSON, []byte(`{"group":"g","code":"c","message":"m","metadata":null,"actor":{"actorId":"a","generation":["$BigInt","3"]}}`))
	if err != nil || string(e.Metadata) != "\xf6" || e.Actor.Generation != 3 || e.Actor.Key != nil {
		t.Errorf("error body = %+v, %v", e, err)
	}
	c, err := DecodeToClient(EncodingJSON, []byte(`{"body":{"tag":"ActionResponse","val":{"id":["$BigInt","1"]}}}`))
	if err != nil || string(c.ActionResponse.Output) != "\xf7" {
		t.Errorf("action response without output = %+v, %v", c.ActionResponse, err)
	}
}
