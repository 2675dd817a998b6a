package protocol

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"reflect"
	"testing"
)

// testdata/golden.json holds encodings written by the real rivetkit@2.3.19
// serializers; testdata/jsgolden/run.mjs regenerates it and can check our
// encodings with rivetkit's decoders (see TestGoldenDump).

type goldenFile struct {
	Cases []struct {
		Kind, Name, Encoding, Hex string
	}
	Values []struct {
		Name        string
		JSON        *string
		Compat      string
		Wire        string
		WireRevives bool
	}
	Keys struct {
		Serialize []struct {
			Key        []string
			Serialized string
		}
		Deserialize []struct {
			Serialized string
			Key        []string
		}
	}
}

func loadGolden(t testing.TB) goldenFile {
	t.Helper()
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

type goldenExpect struct {
	msg any
	// objects: the message carries plain objects inside a BARE data field,
	// which cbor-x writes with a 16-bit map length, so only the meaning
	// (not the bytes) of our BARE encoding can match.
	objects bool
	// cborErr: rivetkit's own CBOR decoder rejects this encoding too.
	cborErr bool
}

func goldenExpectations(t *testing.T) map[string]goldenExpect {
	action := func(id uint64, name, args string) ToServer {
		return ToServer{Action: &ActionRequest{ID: id, Name: name, Args: cv(t, args)}}
	}
	return map[string]goldenExpect{
		"action_increment": {msg: action(0, "increment", `[1]`)},
		"action_mixed": {msg: action(42, "mixed", `["hi",1.5,-7,["$BigInt","1180591620717411303424"],["$BigInt","5"],`+
			`["$Uint8Array","AQID"],{"a":[true,null],"é":"ü"},4294967296]`), objects: true},
		"action_dollar_array": {msg: action(1, "d", `[["$$x",1],["$$$y",2]]`), cborErr: true},
		"action_max_id":       {msg: action(math.MaxUint64, "m", `[]`)},
		"subscribe":           {msg: ToServer{Subscription: &SubscriptionRequest{EventName: "newCount", Subscribe: true}}},
		"unsubscribe":         {msg: ToServer{Subscription: &SubscriptionRequest{EventName: "newCount"}}},
		"init":                {msg: ToClient{Init: &Init{ActorID: "actor-1", ConnectionID: "conn-1"}}},
		"action_response":     {msg: ToClient{ActionResponse: &ActionResponse{ID: 0, Output: cv(t, `6`)}}},
		"action_response_rich": {msg: ToClient{ActionResponse: &ActionResponse{ID: 300,
			Output: cv(t, `{"n":["$BigInt","5"],"b":["$Uint8Array","/w=="],"s":"é","l":[1,"a",[false]]}`)}}, objects: true},
		"event": {msg: ToClient{Event: &Event{Name: "newCount", Args: cv(t, `[6]`)}}},
		"error_action": {msg: ToClient{Error: &ErrorMessage{Group: "user", Code: "my_code", Message: "boom",
			Metadata: cv(t, `{"a":1}`), ActionID: ptr(uint64(7)),
			Actor: &ActorSpecifier{ActorID: "actor-1", Generation: 2, Key: ptr("k")}}}, objects: true},
		"error_conn":         {msg: ToClient{Error: &ErrorMessage{Group: "actor", Code: "not_found", Message: "gone"}}},
		"http_args_5":        {msg: HTTPActionRequest{Args: cv(t, `[5]`)}},
		"http_args_empty":    {msg: HTTPActionRequest{Args: cv(t, `[]`)}},
		"http_args_nested":   {msg: HTTPActionRequest{Args: cv(t, `[{"k":[1,2,{"z":"y"}]},"s"]`)}, objects: true},
		"http_output_5":      {msg: HTTPActionResponse{Output: cv(t, `5`)}},
		"http_output_null":   {msg: HTTPActionResponse{Output: cv(t, `null`)}},
		"http_output_object": {msg: HTTPActionResponse{Output: cv(t, `{"count":5,"list":[1,"a"]}`)}, objects: true},
		"queue_nowait": {msg: HTTPQueueSendRequest{Body: cv(t, `{"job":1}`), Name: ptr("jobs"), Wait: ptr(false)},
			objects: true},
		"queue_wait_timeout": {msg: HTTPQueueSendRequest{Body: cv(t, `"x"`), Name: ptr("jobs"), Wait: ptr(true),
			Timeout: ptr(uint64(1000))}},
		"queue_completed": {msg: HTTPQueueSendResponse{Status: "completed"}},
		"queue_timed_out": {msg: HTTPQueueSendResponse{Status: "timedOut"}},
		"queue_response":  {msg: HTTPQueueSendResponse{Status: "completed", Response: cv(t, `[1,2]`)}},
		"error_user": {msg: ErrorBody{Group: "user", Code: "my_code", Message: "boom", Metadata: cv(t, `{"a":1}`),
			Actor: &ActorSpecifier{ActorID: "actor-1", Generation: 1, Key: ptr("wire-json")}}, objects: true},
		"error_plain": {msg: ErrorBody{Group: "actor", Code: "action_not_found", Message: "Action `nope` was not found."}},
	}
}

// goldenCodec decodes and encodes one message kind of golden.ts.
func goldenCodec(kind string) (decode func(Encoding, []byte) (any, error), encode func(Encoding, any) ([]byte, error)) {
	switch kind {
	case "ToServer":
		return func(e Encoding, b []byte) (any, error) { return DecodeToServer(e, b) },
			func(e Encoding, m any) ([]byte, error) { return EncodeToServer(e, m.(ToServer)) }
	case "ToClient":
		return func(e Encoding, b []byte) (any, error) { return DecodeToClient(e, b) },
			func(e Encoding, m any) ([]byte, error) { return EncodeToClient(e, m.(ToClient)) }
	case "HttpActionRequest":
		return func(e Encoding, b []byte) (any, error) { return DecodeHTTPActionRequest(e, b) },
			func(e Encoding, m any) ([]byte, error) { return EncodeHTTPActionRequest(e, m.(HTTPActionRequest)) }
	case "HttpActionResponse":
		return func(e Encoding, b []byte) (any, error) { return DecodeHTTPActionResponse(e, b) },
			func(e Encoding, m any) ([]byte, error) { return EncodeHTTPActionResponse(e, m.(HTTPActionResponse)) }
	case "HttpQueueSendRequest":
		return func(e Encoding, b []byte) (any, error) { return DecodeHTTPQueueSendRequest(e, b) },
			func(e Encoding, m any) ([]byte, error) {
				return EncodeHTTPQueueSendRequest(e, m.(HTTPQueueSendRequest))
			}
	case "HttpQueueSendResponse":
		return func(e Encoding, b []byte) (any, error) { return DecodeHTTPQueueSendResponse(e, b) },
			func(e Encoding, m any) ([]byte, error) {
				return EncodeHTTPQueueSendResponse(e, m.(HTTPQueueSendResponse))
			}
	case "HttpResponseError":
		return func(e Encoding, b []byte) (any, error) { return DecodeErrorBody(e, b) },
			func(e Encoding, m any) ([]byte, error) { return EncodeErrorBody(e, m.(ErrorBody)) }
	}
	return nil, nil
}

func TestGoldenMessages(t *testing.T) {
	g := loadGolden(t)
	want := goldenExpectations(t)
	seen := map[string]bool{}
	for _, c := range g.Cases {
		name := c.Kind + "/" + c.Name + "/" + c.Encoding
		exp, ok := want[c.Name]
		if !ok {
			t.Errorf("%s: no expectation", name)
			continue
		}
		seen[c.Name] = true
		enc, err := ParseEncoding(c.Encoding)
		if err != nil {
			t.Fatal(err)
		}
		decode, encode := goldenCodec(c.Kind)
		if decode == nil {
			t.Fatalf("%s: unknown kind", name)
		}
		js, err := hex.DecodeString(c.Hex)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decode(enc, js)
		if enc == EncodingCBOR && exp.cborErr {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%s: decode err = %v, want ErrMalformed (as rivetkit)", name, err)
			}
		} else if err != nil {
			t.Errorf("%s: decode %x: %v", name, js, err)
		} else if !reflect.DeepEqual(got, exp.msg) {
			t.Errorf("%s: decode = %+v\nwant %+v", name, got, exp.msg)
		}

		ours, err := encode(enc, exp.msg)
		if err != nil {
			t.Errorf("%s: encode: %v", name, err)
			continue
		}
		switch {
		case enc == EncodingJSON || (enc == EncodingBARE && !exp.objects):
			if !bytes.Equal(ours, js) {
				t.Errorf("%s: encode =\n%q\nrivetkit wrote\n%q", name, ours, js)
			}
		default:
			back, err := decode(enc, ours)
			if err != nil || !reflect.DeepEqual(back, exp.msg) {
				t.Errorf("%s: our encoding %x decodes to %+v, %v", name, ours, back, err)
			}
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("expectation %s has no golden case", name)
		}
	}
}

var goldenValueCanonical = map[string]string{
	"int":                 "05",
	"neg":                 "24",
	"uint32_max":          "1a ffffffff",
	"two_pow_40":          "fb 4270000000000000",
	"float":               "fb 3ff8000000000000",
	"float_small":         "fb 3e7ad7f29abcaf48",
	"float_huge":          "fb 444b1ae4d6e2ef50",
	"bigint":              "1b 000000000000007b",
	"bigint_neg":          "3b 0000000000000004",
	"bigint_70":           "c2 49 400000000000000000",
	"bigint_neg_70":       "c3 49 3fffffffffffffffff",
	"bytes":               "43 010203",
	"string":              `71 "héllo " e280a8 20 22 "q" 22 20 0a 01`,
	"object":              `a3 61 "a" 01 61 "b" 83 f5 f4 f6 60 65 "empty"`,
	"dollar_array":        `82 62 "$x" 01`,
	"dollar_dollar_array": `82 63 "$$y" 81 02`,
	"dollar_long_array":   `83 62 "$x" 01 02`,
	"nested_tags":         `82 82 1b 0000000000000005 41 09 a1 61 "k" 82 62 "$q" 1b 0000000000000007`,
	"undefined":           "f7",
	"object_undefined":    `a1 61 "a" f7`,
	"set":                 `d9 0102 82 01 61 "a"`,
	"map":                 `d9 0103 a2 01 61 "a" 61 "k" 1b 0000000000000002`,
}

func TestGoldenValues(t *testing.T) {
	g := loadGolden(t)
	for _, v := range g.Values {
		wantHex, ok := goldenValueCanonical[v.Name]
		if !ok {
			t.Errorf("%s: no expectation", v.Name)
			continue
		}
		want := hx(t, wantHex)
		compat, _ := hex.DecodeString(v.Compat)
		got, err := CompatCBORToValue(compat)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: CompatCBORToValue(%x) = %x, %v; want %x", v.Name, compat, got, err, want)
		}
		back, err := ValueToCompatCBOR(want)
		if err != nil {
			t.Errorf("%s: ValueToCompatCBOR: %v", v.Name, err)
		} else if !bytes.Equal(back, compat) {
			// cbor-x writes plain objects with a 16-bit length.
			again, err := CompatCBORToValue(back)
			if err != nil || !bytes.Equal(again, want) || !bytes.Contains(compat, []byte{0xb9}) {
				t.Errorf("%s: ValueToCompatCBOR = %x, rivetkit wrote %x", v.Name, back, compat)
			}
		}
		if v.WireRevives {
			wire, _ := hex.DecodeString(v.Wire)
			w, err := decodeValue(wire, true)
			if err != nil || !bytes.Equal(encodeCanonical(&w), want) {
				t.Errorf("%s: wire %x decodes to %x, %v; want %x", v.Name, wire, encodeCanonical(&w), err, want)
			}
		}
		if v.JSON != nil {
			got, err := JSONToValue([]byte(*v.JSON))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: JSONToValue(%s) = %x, %v; want %x", v.Name, *v.JSON, got, err, want)
			}
			back, err := ValueToJSON(want)
			if err != nil || string(back) != *v.JSON {
				t.Errorf("%s: ValueToJSON = %s, %v; rivetkit wrote %s", v.Name, back, err, *v.JSON)
			}
		}
	}
}

func TestGoldenKeys(t *testing.T) {
	g := loadGolden(t)
	if len(g.Keys.Serialize) == 0 || len(g.Keys.Deserialize) == 0 {
		t.Fatal("no key goldens")
	}
	for _, k := range g.Keys.Serialize {
		if got := SerializeKey(k.Key); got != k.Serialized {
			t.Errorf("SerializeKey(%q) = %q, rivetkit gives %q", k.Key, got, k.Serialized)
		}
		back, err := DeserializeKey(k.Serialized)
		if err != nil || !reflect.DeepEqual(back, k.Key) {
			t.Errorf("DeserializeKey(%q) = %q, %v; want %q", k.Serialized, back, err, k.Key)
		}
	}
	for _, k := range g.Keys.Deserialize {
		got, err := DeserializeKey(k.Serialized)
		if err != nil || !reflect.DeepEqual(got, k.Key) {
			t.Errorf("DeserializeKey(%q) = %q, %v; rivetkit gives %q", k.Serialized, got, err, k.Key)
		}
	}
}

// TestGoldenDump writes our encodings of every golden case and value to
// $PROTOCOL_GOLDEN_DUMP for `run.mjs verify`, which decodes them with
// rivetkit's own decoders.
func TestGoldenDump(t *testing.T) {
	path := os.Getenv("PROTOCOL_GOLDEN_DUMP")
	if path == "" {
		t.Skip("set PROTOCOL_GOLDEN_DUMP to write our encodings for testdata/jsgolden/run.mjs verify")
	}
	g := loadGolden(t)
	want := goldenExpectations(t)
	type dumpCase struct {
		Kind     string `json:"kind"`
		Name     string `json:"name"`
		Encoding string `json:"encoding"`
		Hex      string `json:"hex"`
	}
	type dumpValue struct {
		Name   string `json:"name"`
		JSON   string `json:"json"`
		Compat string `json:"compat"`
		Wire   string `json:"wire"`
	}
	var out struct {
		Cases  []dumpCase  `json:"cases"`
		Values []dumpValue `json:"values"`
	}
	for _, c := range g.Cases {
		enc, _ := ParseEncoding(c.Encoding)
		_, encode := goldenCodec(c.Kind)
		b, err := encode(enc, want[c.Name].msg)
		if err != nil {
			t.Fatalf("%s/%s: %v", c.Name, c.Encoding, err)
		}
		out.Cases = append(out.Cases, dumpCase{c.Kind, c.Name, c.Encoding, hex.EncodeToString(b)})
	}
	for _, v := range g.Values {
		canonical := hx(t, goldenValueCanonical[v.Name])
		j, err := ValueToJSON(canonical)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ValueToCompatCBOR(canonical)
		if err != nil {
			t.Fatal(err)
		}
		tree, err := parseCanonical(canonical)
		if err != nil {
			t.Fatal(err)
		}
		var w cborWriter
		w.emit(&tree, modeWire)
		out.Values = append(out.Values, dumpValue{v.Name, hex.EncodeToString(j), hex.EncodeToString(c), hex.EncodeToString(w.buf)})
	}
	b, err := json.MarshalIndent(out, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
