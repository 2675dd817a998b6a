package protocol

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// The wire examples of /work/shared/reference/rivetkit-client-protocol.md,
// captured from the real client and engine.

func TestReferenceHTTPAction(t *testing.T) {
	tests := []struct {
		enc      Encoding
		request  string
		response string
	}{
		{EncodingBARE, "04 00 02 81 05", "04 00 01 05"},
		{EncodingCBOR, "b9000164617267738105", "a1666f757470757405"},
		{EncodingJSON, `{"args":[5]}`, `{"output":5}`},
	}
	wire := func(t *testing.T, enc Encoding, s string) []byte {
		if enc == EncodingJSON {
			return []byte(s)
		}
		return hx(t, s)
	}
	for _, tc := range tests {
		t.Run(tc.enc.String(), func(t *testing.T) {
			req, err := DecodeHTTPActionRequest(tc.enc, wire(t, tc.enc, tc.request))
			if err != nil {
				t.Fatal(err)
			}
			if want := hx(t, "81 05"); !bytes.Equal(req.Args, want) {
				t.Errorf("args = %x, want %x", req.Args, want)
			}
			out, err := EncodeHTTPActionResponse(tc.enc, HTTPActionResponse{Output: []byte{0x05}})
			if err != nil {
				t.Fatal(err)
			}
			if want := wire(t, tc.enc, tc.response); !bytes.Equal(out, want) {
				t.Errorf("response = %x, want %x", out, want)
			}
			resp, err := DecodeHTTPActionResponse(tc.enc, out)
			if err != nil || !bytes.Equal(resp.Output, []byte{5}) {
				t.Errorf("decode response = %x, %v", resp.Output, err)
			}
		})
	}
	// The CBOR request as we write it (minimal map length) still decodes.
	b, err := EncodeHTTPActionRequest(EncodingCBOR, HTTPActionRequest{Args: hx(t, "81 05")})
	if err != nil || !bytes.Equal(b, hx(t, "a1 64617267738105")) {
		t.Errorf("cbor request = %x, %v", b, err)
	}
	b, err = EncodeHTTPActionRequest(EncodingBARE, HTTPActionRequest{Args: hx(t, "81 05")})
	if err != nil || !bytes.Equal(b, hx(t, "04 00 02 81 05")) {
		t.Errorf("bare request = %x, %v", b, err)
	}
}

func TestReferenceWebSocketBARE(t *testing.T) {
	toServer := []struct {
		wire string
		msg  ToServer
	}{
		{`04 00 00 00 09 "increment" 02 81 01`, ToServer{Action: &ActionRequest{ID: 0, Name: "increment", Args: []byte{0x81, 0x01}}}},
		{`04 00 01 08 "newCount" 01`, ToServer{Subscription: &SubscriptionRequest{EventName: "newCount", Subscribe: true}}},
	}
	for _, tc := range toServer {
		wire := hx(t, tc.wire)
		got, err := DecodeToServer(EncodingBARE, wire)
		if err != nil {
			t.Fatalf("decode %s: %v", tc.wire, err)
		}
		if !reflect.DeepEqual(got, tc.msg) {
			t.Errorf("decode %s = %+v", tc.wire, got)
		}
		enc, err := EncodeToServer(EncodingBARE, tc.msg)
		if err != nil || !bytes.Equal(enc, wire) {
			t.Errorf("encode = %x, %v; want %x", enc, err, wire)
		}
	}
	toClient := []struct {
		wire string
		msg  ToClient
	}{
		{`04 00 02 00 01 06`, ToClient{ActionResponse: &ActionResponse{ID: 0, Output: []byte{0x06}}}},
		{`04 00 03 08 "newCount" 02 81 06`, ToClient{Event: &Event{Name: "newCount", Args: []byte{0x81, 0x06}}}},
		{`04 00 00 02 "a1" 02 "c1"`, ToClient{Init: &Init{ActorID: "a1", ConnectionID: "c1"}}},
	}
	for _, tc := range toClient {
		wire := hx(t, tc.wire)
		got, err := DecodeToClient(EncodingBARE, wire)
		if err != nil {
			t.Fatalf("decode %s: %v", tc.wire, err)
		}
		if !reflect.DeepEqual(got, tc.msg) {
			t.Errorf("decode %s = %+v", tc.wire, got)
		}
		enc, err := EncodeToClient(EncodingBARE, tc.msg)
		if err != nil || !bytes.Equal(enc, wire) {
			t.Errorf("encode = %x, %v; want %x", enc, err, wire)
		}
	}
}

func TestReferenceJSONForms(t *testing.T) {
	tests := []struct {
		name string
		got  func() ([]byte, error)
		want string
	}{
		{"action request", func() ([]byte, error) {
			return EncodeToServer(EncodingJSON, ToServer{Action: &ActionRequest{ID: 0, Name: "increment", Args: []byte{0x81, 0x01}}})
		}, `{"body":{"tag":"ActionRequest","val":{"id":["$BigInt","0"],"name":"increment","args":[1]}}}`},
		{"action response", func() ([]byte, error) {
			return EncodeToClient(EncodingJSON, ToClient{ActionResponse: &ActionResponse{ID: 3, Output: []byte{0x06}}})
		}, `{"body":{"tag":"ActionResponse","val":{"id":["$BigInt","3"],"output":6}}}`},
		{"init", func() ([]byte, error) {
			return EncodeToClient(EncodingJSON, ToClient{Init: &Init{ActorID: "a", ConnectionID: "c"}})
		}, `{"body":{"tag":"Init","val":{"actorId":"a","connectionId":"c"}}}`},
		{"error body", func() ([]byte, error) {
			return EncodeErrorBody(EncodingJSON, ErrorBody{Group: "user", Code: "my_code", Message: "boom", Metadata: hx(t, "a1 6161 01"),
				Actor: &ActorSpecifier{ActorID: "x", Generation: 1, Key: ptr("wire-json")}})
		}, `{"group":"user","code":"my_code","message":"boom","metadata":{"a":1},"actor":{"actorId":"x","generation":1,"key":"wire-json"}}`},
		{"connection error", func() ([]byte, error) {
			return EncodeToClient(EncodingJSON, ToClient{Error: &ErrorMessage{Group: "actor", Code: "not_found", Message: "gone"}})
		}, `{"body":{"tag":"Error","val":{"group":"actor","code":"not_found","message":"gone","actionId":null}}}`},
		{"queue request", func() ([]byte, error) {
			return EncodeHTTPQueueSendRequest(EncodingJSON, HTTPQueueSendRequest{Body: []byte{0x01}, Name: ptr("jobs"), Wait: ptr(false)})
		}, `{"body":1,"name":"jobs","wait":false}`},
		{"queue response", func() ([]byte, error) {
			return EncodeHTTPQueueSendResponse(EncodingJSON, HTTPQueueSendResponse{Status: "completed"})
		}, `{"status":"completed"}`},
		{"void output", func() ([]byte, error) {
			return EncodeHTTPActionResponse(EncodingJSON, HTTPActionResponse{Output: []byte{0xf7}})
		}, `{}`},
	}
	for _, tc := range tests {
		got, err := tc.got()
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if string(got) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

// Outgoing ids are ["$BigInt","N"] in JSON and the 8-byte integer form in
// CBOR; incoming ids accept every integer form.
func TestIDForms(t *testing.T) {
	b, err := EncodeToClient(EncodingCBOR, ToClient{ActionResponse: &ActionResponse{ID: 0, Output: []byte{0x06}}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, hx(t, `"id" 1b 0000000000000000`)) {
		t.Errorf("cbor id not in 8-byte form: %x", b)
	}
	b, err = EncodeToClient(EncodingCBOR, ToClient{Error: &ErrorMessage{Group: "g", Code: "c", Message: "m", ActionID: ptr(uint64(9))}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, hx(t, `"actionId" 1b 0000000000000009`)) {
		t.Errorf("cbor actionId not in 8-byte form: %x", b)
	}
	for _, frame := range []string{
		`{"body":{"tag":"ActionRequest","val":{"id":["$BigInt","7"],"name":"n","args":[]}}}`,
		`{"body":{"tag":"ActionRequest","val":{"id":7,"name":"n","args":[]}}}`,
		`{"body":{"tag":"ActionRequest","val":{"id":7.0,"name":"n","args":[]}}}`,
	} {
		m, err := DecodeToServer(EncodingJSON, []byte(frame))
		if err != nil || m.Action == nil || m.Action.ID != 7 {
			t.Errorf("%s: %+v %v", frame, m.Action, err)
		}
	}
	for _, id := range []string{"07", "18 07", "19 0007", "1a 00000007", "1b 0000000000000007", `82 67 "$BigInt" 61 "7"`} {
		frame := hx(t, `a1 64 "body" a2 63 "tag" 6d "ActionRequest" 63 "val" a3 62 "id" `+id+` 64 "name" 61 "n" 64 "args" 80`)
		m, err := DecodeToServer(EncodingCBOR, frame)
		if err != nil || m.Action == nil || m.Action.ID != 7 {
			t.Errorf("cbor id %s: %+v %v", id, m.Action, err)
		}
	}
	for _, frame := range []string{
		`{"body":{"tag":"ActionRequest","val":{"id":-1,"name":"n","args":[]}}}`,
		`{"body":{"tag":"ActionRequest","val":{"id":1.5,"name":"n","args":[]}}}`,
		`{"body":{"tag":"ActionRequest","val":{"id":["$BigInt","18446744073709551616"],"name":"n","args":[]}}}`,
		`{"body":{"tag":"ActionRequest","val":{"id":"1","name":"n","args":[]}}}`,
	} {
		if _, err := DecodeToServer(EncodingJSON, []byte(frame)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", frame, err)
		}
	}
}
