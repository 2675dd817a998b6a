package protocol

import (
	"encoding/hex"
	"strings"
	"testing"
)

// hx parses hex bytes separated by spaces; a token in double quotes is
// taken as literal text, so the reference doc's `04 00 01 08 "newCount" 01`
// can be written as is.
func hx(t testing.TB, s string) []byte {
	t.Helper()
	var out []byte
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				t.Fatalf("unterminated string in %q", s)
			}
			out = append(out, s[1:end+1]...)
			s = s[end+2:]
			continue
		}
		tok, rest, _ := strings.Cut(s, " ")
		b, err := hex.DecodeString(tok)
		if err != nil {
			t.Fatalf("bad hex %q: %v", tok, err)
		}
		out = append(out, b...)
		s = rest
	}
	return out
}

// cv returns the canonical CBOR of a json-compat JSON document.
func cv(t testing.TB, doc string) []byte {
	t.Helper()
	v, err := JSONToValue([]byte(doc))
	if err != nil {
		t.Fatalf("JSONToValue(%s): %v", doc, err)
	}
	return v
}

func ptr[T any](v T) *T { return &v }

var allEncodings = []Encoding{EncodingBARE, EncodingJSON, EncodingCBOR}
