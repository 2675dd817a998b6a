package protocol

import (
	"errors"
	"reflect"
	"testing"
)

func TestKeys(t *testing.T) {
	tests := []struct {
		key        []string
		serialized string
	}{
		{[]string{}, `/`},
		{[]string{""}, `\0`},
		{[]string{"", ""}, `\0/\0`},
		{[]string{"abc"}, `abc`},
		{[]string{"a", "b"}, `a/b`},
		{[]string{"a/b"}, `a\/b`},
		{[]string{`a\b`}, `a\\b`},
		{[]string{`\`}, `\\`},
		{[]string{`\0`}, `\\0`},
		{[]string{"/"}, `\/`},
		{[]string{"a", ""}, `a/\0`},
		{[]string{"a,b", "c"}, `a,b/c`},
		{[]string{"日本", "é"}, `日本/é`},
	}
	for _, tc := range tests {
		if got := SerializeKey(tc.key); got != tc.serialized {
			t.Errorf("SerializeKey(%q) = %q, want %q", tc.key, got, tc.serialized)
		}
		got, err := DeserializeKey(tc.serialized)
		if err != nil || !reflect.DeepEqual(got, tc.key) {
			t.Errorf("DeserializeKey(%q) = %q, %v; want %q", tc.serialized, got, err, tc.key)
		}
	}
	if got := SerializeKey(nil); got != "/" {
		t.Errorf("SerializeKey(nil) = %q", got)
	}
	// Inputs serializeActorKey never writes are read the way rivetkit reads them.
	for s, want := range map[string][]string{
		"": {}, "//": {"", "", ""}, "a/": {"a", ""}, `a\`: {`a\`}, `x\0`: {""}, `\x`: {"x"},
	} {
		got, err := DeserializeKey(s)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("DeserializeKey(%q) = %q, %v; want %q", s, got, err, want)
		}
	}
	if _, err := DeserializeKey("\xff"); !errors.Is(err, ErrMalformed) {
		t.Errorf("DeserializeKey(invalid utf-8): err = %v", err)
	}
}

func TestParseQueryKey(t *testing.T) {
	for s, want := range map[string][]string{
		"": {}, "a": {"a"}, "a,b": {"a", "b"}, "a,,b": {"a", "", "b"}, ",": {"", ""}, "a/b": {"a/b"},
	} {
		if got := ParseQueryKey(s); !reflect.DeepEqual(got, want) {
			t.Errorf("ParseQueryKey(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestEncoding(t *testing.T) {
	for _, tc := range []struct {
		s           string
		e           Encoding
		name, ctype string
		binary      bool
	}{
		{"", EncodingBARE, "bare", "application/octet-stream", true},
		{"bare", EncodingBARE, "bare", "application/octet-stream", true},
		{"json", EncodingJSON, "json", "application/json", false},
		{"cbor", EncodingCBOR, "cbor", "application/octet-stream", true},
	} {
		e, err := ParseEncoding(tc.s)
		if err != nil || e != tc.e || e.String() != tc.name || e.ContentType() != tc.ctype || e.Binary() != tc.binary {
			t.Errorf("ParseEncoding(%q) = %v (%s, %s, %v), %v", tc.s, e, e.String(), e.ContentType(), e.Binary(), err)
		}
	}
	for _, s := range []string{"JSON", "msgpack", " bare"} {
		if _, err := ParseEncoding(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseEncoding(%q): err = %v", s, err)
		}
	}
}
