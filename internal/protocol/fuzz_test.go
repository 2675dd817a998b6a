package protocol

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
)

// Every fuzz target checks that a decoder never panics, that it fails only
// with ErrMalformed, and that whatever it accepts re-encodes (in the same
// encoding) to something that decodes to the same value.

// seedMessages adds the golden encodings of the given kinds, plus extra
// inputs, as (encoding, bytes) seeds.
func seedMessages(f *testing.F, kind string, extra ...[]byte) {
	g := loadGolden(f)
	for _, c := range g.Cases {
		if c.Kind != kind {
			continue
		}
		enc, _ := ParseEncoding(c.Encoding)
		b, _ := hex.DecodeString(c.Hex)
		f.Add(uint8(enc), b)
	}
	for _, b := range extra {
		for _, enc := range allEncodings {
			f.Add(uint8(enc), b)
		}
	}
}

func fuzzMessage[M any](f *testing.F, decode func(Encoding, []byte) (M, error), encode func(Encoding, M) ([]byte, error)) {
	f.Fuzz(func(t *testing.T, e uint8, data []byte) {
		enc := Encoding(e % 3)
		m, err := decode(enc, data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s: error does not wrap ErrMalformed: %v", enc, err)
			}
			return
		}
		b, err := encode(enc, m)
		if err != nil {
			t.Fatalf("%s: decoded %+v but cannot encode it: %v", enc, m, err)
		}
		m2, err := decode(enc, b)
		if err != nil {
			t.Fatalf("%s: re-encoding %q does not decode: %v", enc, b, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("%s: %+v re-encoded as %q decodes to %+v", enc, m, b, m2)
		}
	})
}

func FuzzDecodeToServer(f *testing.F) {
	seedMessages(f, "ToServer", []byte(`{"body":{"tag":"SubscriptionRequest","val":{"eventName":"e","subscribe":true}}}`),
		[]byte("\x01\x00\x01\x01e\x00"))
	fuzzMessage(f, DecodeToServer, EncodeToServer)
}

func FuzzDecodeToClient(f *testing.F) {
	seedMessages(f, "ToClient", []byte("\x01\x00\x00\x01a\x01c\x01t"), []byte("\x03\x00\x01\x01g\x01c\x01m\x01\x01\x05\x01\x07"))
	fuzzMessage(f, DecodeToClient, EncodeToClient)
}

func FuzzDecodeHTTPActionRequest(f *testing.F) {
	seedMessages(f, "HttpActionRequest", []byte(`{"args":[["$Set",[1]],["$Undefined",0],{"a":["$$b",1]}]}`))
	fuzzMessage(f, DecodeHTTPActionRequest, EncodeHTTPActionRequest)
}

func FuzzDecodeHTTPActionResponse(f *testing.F) {
	seedMessages(f, "HttpActionResponse", []byte(`{}`), []byte("\x04\x00\x05\xd9\x01\x03\xa1\x01\x01"))
	fuzzMessage(f, DecodeHTTPActionResponse, EncodeHTTPActionResponse)
}

func FuzzDecodeHTTPQueueSendRequest(f *testing.F) {
	seedMessages(f, "HttpQueueSendRequest", []byte(`{"body":1,"timeout":2.5}`))
	fuzzMessage(f, DecodeHTTPQueueSendRequest, EncodeHTTPQueueSendRequest)
}

func FuzzDecodeHTTPQueueSendResponse(f *testing.F) {
	seedMessages(f, "HttpQueueSendResponse")
	fuzzMessage(f, DecodeHTTPQueueSendResponse, EncodeHTTPQueueSendResponse)
}

func FuzzDecodeErrorBody(f *testing.F) {
	seedMessages(f, "HttpResponseError", []byte("\x01\x00\x01g\x01c\x01m\x00"))
	fuzzMessage(f, DecodeErrorBody, EncodeErrorBody)
}

func FuzzJSONToValue(f *testing.F) {
	g := loadGolden(f)
	for _, v := range g.Values {
		if v.JSON != nil {
			f.Add([]byte(*v.JSON))
		}
	}
	for _, s := range stableValues {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"a":[1,2.5,-3e-7,"x\u0000",["$Set",[["$Uint8Array","AQ"]]]],"b":{"c":null}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		v, err := JSONToValue(doc)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		j, err := ValueToJSON(v)
		if err != nil {
			t.Fatalf("JSONToValue(%q) = %x, which ValueToJSON rejects: %v", doc, v, err)
		}
		v2, err := JSONToValue(j)
		if err != nil || !bytes.Equal(v, v2) {
			t.Fatalf("JSONToValue(%q) = %x; ValueToJSON gives %s, which gives %x, %v", doc, v, j, v2, err)
		}
	})
}

func FuzzCompatCBORToValue(f *testing.F) {
	g := loadGolden(f)
	for _, v := range g.Values {
		b, _ := hex.DecodeString(v.Compat)
		f.Add(b)
		b, _ = hex.DecodeString(v.Wire)
		f.Add(b)
	}
	for _, h := range binaryValues {
		f.Add(hx(f, h))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := CompatCBORToValue(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		c, err := ValueToCompatCBOR(v)
		if err != nil {
			t.Fatalf("CompatCBORToValue(%x) = %x, which ValueToCompatCBOR rejects: %v", data, v, err)
		}
		v2, err := CompatCBORToValue(c)
		if err != nil || !bytes.Equal(v, v2) {
			t.Fatalf("CompatCBORToValue(%x) = %x; compat form %x gives %x, %v", data, v, c, v2, err)
		}
		if _, err := ValueToJSON(v); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("ValueToJSON(%x): %v", v, err)
		}
	})
}

func FuzzValueToJSON(f *testing.F) {
	for _, h := range binaryValues {
		f.Add(hx(f, h))
	}
	for _, s := range stableValues {
		f.Add(cv(f, s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := ValueToJSON(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		// What we write must be json-compat JSON we accept.
		if _, err := JSONToValue(j); err != nil {
			t.Fatalf("ValueToJSON(%x) = %s, which JSONToValue rejects: %v", data, j, err)
		}
	})
}

func FuzzDeserializeKey(f *testing.F) {
	g := loadGolden(f)
	for _, k := range g.Keys.Deserialize {
		f.Add(k.Serialized)
	}
	for _, k := range g.Keys.Serialize {
		f.Add(k.Serialized)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := DeserializeKey(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		s2 := SerializeKey(k)
		k2, err := DeserializeKey(s2)
		if err != nil || !reflect.DeepEqual(k, k2) {
			t.Fatalf("DeserializeKey(%q) = %q; serialized %q gives %q, %v", s, k, s2, k2, err)
		}
	})
}
