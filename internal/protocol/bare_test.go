package protocol

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestBAREMalformed(t *testing.T) {
	type decoder func([]byte) error
	toServer := func(b []byte) error { _, err := DecodeToServer(EncodingBARE, b); return err }
	toClient := func(b []byte) error { _, err := DecodeToClient(EncodingBARE, b); return err }
	action := func(b []byte) error { _, err := DecodeHTTPActionRequest(EncodingBARE, b); return err }
	queue := func(b []byte) error { _, err := DecodeHTTPQueueSendRequest(EncodingBARE, b); return err }
	queueResp := func(b []byte) error { _, err := DecodeHTTPQueueSendResponse(EncodingBARE, b); return err }
	errBody := func(b []byte) error { _, err := DecodeErrorBody(EncodingBARE, b); return err }
	tests := []struct {
		name string
		dec  decoder
		wire string
	}{
		{"empty", toServer, ""},
		{"version only half", toServer, "04"},
		{"version only", toServer, "04 00"},
		{"version 0", toServer, `00 00 01 01 "a" 01`},
		{"version 5", toServer, `05 00 01 01 "a" 01`},
		{"version big endian", toServer, `00 04 01 01 "a" 01`},
		{"unknown tag", toServer, `04 00 02 01 "a" 01`},
		{"bool 2", toServer, `04 00 01 01 "a" 02`},
		{"trailing byte", toServer, `04 00 01 01 "a" 01 00`},
		{"string past end", toServer, `04 00 01 05 "a" 01`},
		{"huge string length", toServer, `04 00 01 ff ff ff ff 0f`},
		{"length over 32 bits", toServer, `04 00 01 80 80 80 80 10 "a"`},
		{"invalid utf-8", toServer, `04 00 01 01 ff 01`},
		{"surrogate utf-8", toServer, `04 00 01 03 eda080 01`},
		{"non-canonical id", toServer, `04 00 00 80 00 01 "n" 01 80`},
		{"id over 64 bits", toServer, `04 00 00 ff ff ff ff ff ff ff ff ff 02 01 "n" 01 80`},
		{"id 11 bytes", toServer, `04 00 00 ff ff ff ff ff ff ff ff ff 81 01 01 "n" 01 80`},
		{"args not cbor", toServer, `04 00 00 00 01 "n" 01 ff`},
		{"args empty", toServer, `04 00 00 00 01 "n" 00`},
		{"args not array", toServer, `04 00 00 00 01 "n" 01 05`},
		{"args trailing cbor", toServer, `04 00 00 00 01 "n" 02 80 00`},
		{"args unknown compat tag", toServer, `04 00 00 00 01 "n" 06 81 82 62 "$x" 01`},
		{"data past end", action, "04 00 02 81"},
		{"data trailing", action, "04 00 02 81 05 00"},
		{"data huge length", action, "04 00 ff ff ff ff 0f 81"},
		{"output missing", toClient, "04 00 02 00"},
		{"to-client unknown tag", toClient, "04 00 04"},
		{"init missing connection id", toClient, `04 00 00 01 "a"`},
		{"v1 init missing token", toClient, `01 00 00 01 "a" 01 "c"`},
		{"v3 error with actor", toClient, `03 00 01 01 "g" 01 "c" 01 "m" 00 00 00`},
		{"v4 error without actor", toClient, `04 00 01 01 "g" 01 "c" 01 "m" 00 00`},
		{"option flag 2", toClient, `04 00 01 01 "g" 01 "c" 01 "m" 02 00 00`},
		{"event args not array", toClient, `04 00 03 01 "e" 01 01`},
		{"queue version 2", queue, `02 00 01 01 00 00 00`},
		{"queue short u64", queue, `04 00 01 01 00 00 01 e8 03`},
		{"queue wait 2", queue, `04 00 01 01 00 01 02 00`},
		{"queue status invalid", queueResp, `04 00 03 "bad" 00`},
		{"queue response version 1", queueResp, `01 00 09 "completed" 00`},
		{"error body v4 no actor flag", errBody, `04 00 01 "g" 01 "c" 01 "m" 00`},
	}
	for _, tc := range tests {
		if err := tc.dec(hx(t, tc.wire)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s (%s): err = %v, want ErrMalformed", tc.name, tc.wire, err)
		}
	}
}

func TestBAREVersions(t *testing.T) {
	// Every message type accepts older versions whose layout it knows.
	m, err := DecodeToServer(EncodingBARE, hx(t, `01 00 01 01 "e" 00`))
	if err != nil || !reflect.DeepEqual(m, ToServer{Subscription: &SubscriptionRequest{EventName: "e"}}) {
		t.Errorf("v1 to-server = %+v, %v", m, err)
	}
	c, err := DecodeToClient(EncodingBARE, hx(t, `01 00 00 01 "a" 01 "c" 01 "t"`))
	if err != nil || !reflect.DeepEqual(c, ToClient{Init: &Init{ActorID: "a", ConnectionID: "c"}}) {
		t.Errorf("v1 init = %+v, %v", c, err)
	}
	c, err = DecodeToClient(EncodingBARE, hx(t, `02 00 00 01 "a" 01 "c"`))
	if err != nil || !reflect.DeepEqual(c, ToClient{Init: &Init{ActorID: "a", ConnectionID: "c"}}) {
		t.Errorf("v2 init = %+v, %v", c, err)
	}
	c, err = DecodeToClient(EncodingBARE, hx(t, `03 00 01 01 "g" 01 "c" 01 "m" 01 01 05 01 07`))
	want := ToClient{Error: &ErrorMessage{Group: "g", Code: "c", Message: "m", Metadata: []byte{5}, ActionID: ptr(uint64(7))}}
	if err != nil || !reflect.DeepEqual(c, want) {
		t.Errorf("v3 error = %+v, %v", c.Error, err)
	}
	c, err = DecodeToClient(EncodingBARE, hx(t, `04 00 01 01 "g" 01 "c" 01 "m" 00 00 01 01 "x" 02 01 01 "k"`))
	want = ToClient{Error: &ErrorMessage{Group: "g", Code: "c", Message: "m", Actor: &ActorSpecifier{ActorID: "x", Generation: 2, Key: ptr("k")}}}
	if err != nil || !reflect.DeepEqual(c, want) {
		t.Errorf("v4 error = %+v, %v", c.Error, err)
	}
	e, err := DecodeErrorBody(EncodingBARE, hx(t, `01 00 01 "g" 01 "c" 01 "m" 00`))
	if err != nil || !reflect.DeepEqual(e, ErrorBody{Group: "g", Code: "c", Message: "m"}) {
		t.Errorf("v1 error body = %+v, %v", e, err)
	}
	a, err := DecodeHTTPActionRequest(EncodingBARE, hx(t, "02 00 01 80"))
	if err != nil || string(a.Args) != "\x80" {
		t.Errorf("v2 action = %x, %v", a.Args, err)
	}
	q, err := DecodeHTTPQueueSendRequest(EncodingBARE, hx(t, `03 00 01 01 01 01 "j" 01 01 01 e803000000000000`))
	wq := HTTPQueueSendRequest{Body: []byte{1}, Name: ptr("j"), Wait: ptr(true), Timeout: ptr(uint64(1000))}
	if err != nil || !reflect.DeepEqual(q, wq) {
		t.Errorf("v3 queue = %+v, %v", q, err)
	}
}

func TestBAREUint(t *testing.T) {
	for _, tc := range []struct {
		wire string
		want uint64
	}{
		{"00", 0}, {"7f", 127}, {"80 01", 128}, {"ff 7f", 16383}, {"80 80 01", 16384},
		{"ff ff ff ff ff ff ff ff ff 01", math.MaxUint64},
	} {
		r := bareReader{b: hx(t, tc.wire)}
		got, err := r.uint()
		if err != nil || got != tc.want || r.end() != nil {
			t.Errorf("uint(%s) = %d, %v", tc.wire, got, err)
		}
		w := bareWriter{}
		w.uint(tc.want)
		if string(w.buf) != string(hx(t, tc.wire)) {
			t.Errorf("write uint %d = %x", tc.want, w.buf)
		}
	}
	// A string length prefix larger than the input fails before allocating.
	huge := hx(t, "04 00 01 ff ff ff ff 0f"+strings.Repeat(" 00", 8))
	allocs := testing.AllocsPerRun(10, func() { _, _ = DecodeToServer(EncodingBARE, huge) })
	if allocs > 10 {
		t.Errorf("decode of a huge length prefix made %v allocations", allocs)
	}
}
