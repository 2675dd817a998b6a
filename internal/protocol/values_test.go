package protocol

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestJSONToValue(t *testing.T) {
	tests := []struct {
		json      string
		canonical string // hex
		back      string // ValueToJSON; "" means same as json
	}{
		{`5`, "05", ""},
		{`-5`, "24", ""},
		{`0`, "00", ""},
		{`-0`, "00", `0`},
		{`4294967295`, "1a ffffffff", ""},
		{`4294967296`, "fb 41f0000000000000", ""},
		{`-4294967296`, "3a ffffffff", ""},
		{`-4294967297`, "fb c1f0000000100000", ""},
		{`1.5`, "fb 3ff8000000000000", ""},
		{`5.0`, "05", `5`},
		{`1e21`, "fb 444b1ae4d6e2ef50", `1e+21`},
		{`1e20`, "fb 4415af1d78b58c40", `100000000000000000000`},
		{`1e-7`, "fb 3e7ad7f29abcaf48", ""},
		{`0.000001`, "fb 3eb0c6f7a0b5ed8d", ""},
		{`1e-400`, "00", `0`},
		{`123.456e2`, "fb 40c81ccccccccccd", `12345.6`},
		{`["$BigInt","123"]`, "1b 000000000000007b", ""},
		{`["$BigInt","-5"]`, "3b 0000000000000004", ""},
		{`["$BigInt","18446744073709551615"]`, "1b ffffffffffffffff", ""},
		{`["$BigInt","18446744073709551616"]`, "c2 49 010000000000000000", ""},
		{`["$BigInt","-18446744073709551617"]`, "c3 49 010000000000000000", ""},
		{`["$BigInt","1180591620717411303424"]`, "c2 49 400000000000000000", ""},
		{`["$BigInt","0x10"]`, "1b 0000000000000010", `["$BigInt","16"]`},
		{`["$BigInt"," 7 "]`, "1b 0000000000000007", `["$BigInt","7"]`},
		{`["$BigInt",""]`, "1b 0000000000000000", `["$BigInt","0"]`},
		{`["$BigInt",12]`, "1b 000000000000000c", `["$BigInt","12"]`},
		{`["$Uint8Array","AQID"]`, "43 010203", ""},
		{`["$Uint8Array","AQI="]`, "42 0102", ""},
		{`["$Uint8Array","AQI"]`, "42 0102", `["$Uint8Array","AQI="]`},
		{`["$Uint8Array","-_8="]`, "42 fbff", `["$Uint8Array","+/8="]`},
		{`["$ArrayBuffer","AQID"]`, "43 010203", `["$Uint8Array","AQID"]`},
		{`["$Uint8Array",""]`, "40", ""},
		{`["$Undefined",0]`, "f7", ""},
		{`["$Undefined",null]`, "f7", `["$Undefined",0]`},
		{`["$Set",[1,"a"]]`, "d9 0102 82 01 61 61", ""},
		{`["$Set",[["$BigInt","1"]]]`, "d9 0102 81 1b 0000000000000001", ""},
		{`["$$x",1]`, `82 62 "$x" 01`, ""},
		{`["$$$y",[2]]`, `82 63 "$$y" 81 02`, ""},
		{`["$$x",["$BigInt","1"]]`, `82 62 "$x" 1b 0000000000000001`, ""},
		{`["$x",1,2]`, `83 62 "$x" 01 02`, ""},
		{`[1,"$x"]`, `82 01 62 "$x"`, ""},
		{`["$"]`, `81 61 "$"`, ""},
		{`{"a":1,"b":[true,false,null]}`, `a2 61 "a" 01 61 "b" 83 f5 f4 f6`, ""},
		{`{"b":1,"a":2}`, `a2 61 "b" 01 61 "a" 02`, ""},
		{`{"$BigInt":"1"}`, `a1 67 "$BigInt" 61 "1"`, ""},
		{`{"k":["$BigInt","1"]}`, `a1 61 "k" 1b 0000000000000001`, ""},
		{` [ ] `, "80", `[]`},
		{`"\u2028\n\u0001\"\\é/"`, "6a e280a8 0a 01 22 5c c3a9 2f", "\"\u2028\\n\\u0001\\\"\\\\é/\""},
		{`"<&>"`, `63 "<&>"`, ""},
		{"\ufeff1", "01", `1`},
	}
	for _, tc := range tests {
		got, err := JSONToValue([]byte(tc.json))
		if err != nil {
			t.Errorf("JSONToValue(%s): %v", tc.json, err)
			continue
		}
		if want := hx(t, tc.canonical); !bytes.Equal(got, want) {
			t.Errorf("JSONToValue(%s) = %x, want %x", tc.json, got, want)
			continue
		}
		back, err := ValueToJSON(got)
		want := tc.back
		if want == "" {
			want = tc.json
		}
		if err != nil || string(back) != want {
			t.Errorf("ValueToJSON(%x) = %s, %v; want %s", got, back, err, want)
		}
	}
}

func TestJSONToValueMalformed(t *testing.T) {
	deep := strings.Repeat("[", maxValueDepth+1) + strings.Repeat("]", maxValueDepth+1)
	tooDeepWire := strings.Repeat("[", maxWireDepth+1) + strings.Repeat("]", maxWireDepth+1)
	for _, doc := range []string{
		``, ` `, `[1,]`, `[1] 2`, `{"a":1,"a":2}`, `{a:1}`, `1e400`, `-1e400`, `NaN`, `01`, `"x`, `[`, `}`,
		`["$Foo",1]`, `["$BigInt","abc"]`, `["$BigInt","1.5"]`, `["$BigInt",1.5]`, `["$BigInt","-0x1"]`,
		`["$BigInt",true]`, `["$BigInt","` + strings.Repeat("9", maxBigIntChars+1) + `"]`,
		`["$Uint8Array",5]`, `["$Uint8Array","!!"]`, `["$Uint8Array","A==="]`, `["$Set",1]`, `["$Set",[["$Foo",1]]]`,
		`[["$Foo",1]]`, `{"a":["$Foo",1]}`, deep, tooDeepWire,
	} {
		if _, err := JSONToValue([]byte(doc)); !errors.Is(err, ErrMalformed) {
			name := doc
			if len(name) > 40 {
				name = name[:40] + "..."
			}
			t.Errorf("JSONToValue(%s): err = %v, want ErrMalformed", name, err)
		}
	}
	// Exactly at the limit is fine.
	ok := strings.Repeat("[", maxValueDepth) + strings.Repeat("]", maxValueDepth)
	if _, err := JSONToValue([]byte(ok)); err != nil {
		t.Errorf("depth %d: %v", maxValueDepth, err)
	}
}

func TestValueToJSON(t *testing.T) {
	tests := []struct{ canonical, json string }{
		{"f9 3c00", `1`},
		{"f9 3e00", `1.5`},
		{"f9 7c00", `null`},
		{"fa 3fc00000", `1.5`},
		{"fb 7ff8000000000000", `null`},
		{"fb 8000000000000000", `0`},
		{"18 05", `5`},
		{"1b 0000000000000005", `["$BigInt","5"]`},
		{"3b ffffffffffffffff", `["$BigInt","-18446744073709551616"]`},
		{"c2 41 05", `["$BigInt","5"]`},
		{"c3 40", `["$BigInt","-1"]`},
		{"c1 00", `"1970-01-01T00:00:00.000Z"`},
		{"c1 1a 5fee6600", `"2021-01-01T00:00:00.000Z"`},
		{"c1 fb bff8000000000000", `"1969-12-31T23:59:58.500Z"`},
		{"c1 fb 7ff0000000000000", `null`},
		{"d8 40 43 010203", `["$Uint8Array","AQID"]`},
		{"d9 0103 a1 01 61 61", `{"1":"a"}`},
		{"a2 01 61 61 61 31 61 62", `{"1":"b"}`},
		{"a3 f5 01 f6 02 fb 3ff8000000000000 03", `{"true":1,"null":2,"1.5":3}`},
		{"d8 63 05", `5`},
		{"f8 20", `null`},
		{"5f 41 01 41 02 ff", `["$Uint8Array","AQI="]`},
		{"7f 61 61 61 62 ff", `"ab"`},
		{"9f 01 02 ff", `[1,2]`},
		{"bf 61 61 01 ff", `{"a":1}`},
		{`82 62 "$x" 01`, `["$$x",1]`},
		{`82 43 010203 62 "$x"`, `[["$Uint8Array","AQID"],"$x"]`},
		{"d9 0102 81 82 61 24 f7", `["$Set",[["$$",["$Undefined",0]]]]`},
		{`82 d8 63 62 "$0" 01`, `["$$0",1]`},
		{`82 d9 0103 62 "$0" 01`, `["$$0",1]`},
		{`82 c1 00 01`, `["1970-01-01T00:00:00.000Z",1]`},
	}
	for _, tc := range tests {
		got, err := ValueToJSON(hx(t, tc.canonical))
		if err != nil || string(got) != tc.json {
			t.Errorf("ValueToJSON(%s) = %s, %v; want %s", tc.canonical, got, err, tc.json)
		}
	}
	for _, bad := range []string{"", "ff", "1c", "f8 10", "01 02", "a1 41 00 01", "c2 61 61", `62 ff fe`,
		"9b ffffffffffffffff", "a2 61 61 01 61 61 02", strings.Repeat("81 ", maxValueDepth+1) + "01"} {
		if _, err := ValueToJSON(hx(t, bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ValueToJSON(%s): err = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestCompatCBOR(t *testing.T) {
	// client form → canonical → client form
	tests := []struct{ compat, canonical, back string }{
		{`82 67 "$BigInt" 63 "123"`, "1b 000000000000007b", ""},
		{`82 6b "$Uint8Array" 64 "AQID"`, "43 010203", ""},
		{`82 6a "$Undefined" 00`, "f7", ""},
		{`82 64 "$Set" 82 01 61 61`, "d9 0102 82 01 61 61", ""},
		{`82 63 "$$x" 01`, `82 62 "$x" 01`, ""},
		{`b9 0001 61 "a" 01`, `a1 61 "a" 01`, `a1 61 "a" 01`},
		{`d9 0103 a1 82 67 "$BigInt" 61 "1" 82 6b "$Uint8Array" 64 "AQID"`,
			`d9 0103 a1 1b 0000000000000001 43 010203`, ""},
		{`a1 61 "k" 82 67 "$BigInt" 61 "1"`, `a1 61 "k" 1b 0000000000000001`, ""},
		// Only arrays, plain-object values and Map entries are revived.
		{`d9 0102 81 82 62 "$x" 01`, `d9 0102 81 82 62 "$x" 01`, `82 64 "$Set" 81 82 63 "$$x" 01`},
		{`c1 01`, `c1 01`, ""},
		{`d8 40 43 010203`, `43 010203`, `82 6b "$Uint8Array" 64 "AQID"`},
		{`d8 40 d8 40 43 010203`, `43 010203`, `82 6b "$Uint8Array" 64 "AQID"`},
		{`c2 41 05`, `1b 0000000000000005`, `82 67 "$BigInt" 61 "5"`},
		{`c2 49 400000000000000000`, `c2 49 400000000000000000`, `82 67 "$BigInt" 76 "1180591620717411303424"`},
		{`c3 4a 00 400000000000000000`, `c3 49 400000000000000000`, `82 67 "$BigInt" 77 "-1180591620717411303425"`},
		{`1b 0000000000000005`, `1b 0000000000000005`, `82 67 "$BigInt" 61 "5"`},
		{`fb 3ff8000000000000`, `fb 3ff8000000000000`, ""},
		{`f9 3e00`, `f9 3e00`, ""},
	}
	for _, tc := range tests {
		got, err := CompatCBORToValue(hx(t, tc.compat))
		if err != nil {
			t.Errorf("CompatCBORToValue(%s): %v", tc.compat, err)
			continue
		}
		if want := hx(t, tc.canonical); !bytes.Equal(got, want) {
			t.Errorf("CompatCBORToValue(%s) = %x, want %x", tc.compat, got, want)
			continue
		}
		back, err := ValueToCompatCBOR(got)
		want := tc.back
		if want == "" {
			want = tc.compat
		}
		if err != nil || !bytes.Equal(back, hx(t, want)) {
			t.Errorf("ValueToCompatCBOR(%x) = %x, %v; want %x", got, back, err, hx(t, want))
		}
	}
	for _, bad := range []string{
		"", "ff", "1c", "01 02", `82 62 "$x" 01`, "a2 61 61 01 61 61 02", "c2 61 61", "9b ffffffffffffffff",
		"5f 61 61 ff", "7f 41 01 ff", "5f 5f ff ff", "c2 59 0401 01" + strings.Repeat("00", 0x400),
		strings.Repeat("81 ", maxWireDepth+1) + "01", strings.Repeat("81 ", maxValueDepth+1) + "01",
	} {
		if _, err := CompatCBORToValue(hx(t, bad)); !errors.Is(err, ErrMalformed) {
			name := bad
			if len(name) > 40 {
				name = name[:40] + "..."
			}
			t.Errorf("CompatCBORToValue(%s): err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestFormatJSNumber(t *testing.T) {
	for f, want := range map[float64]string{
		1: "1", -1: "-1", 0.1: "0.1", 1.5e300: "1.5e+300", 1e21: "1e+21", 123e19: "1.23e+21",
		1e-6: "0.000001", 1.5e-7: "1.5e-7", 123456789.125: "123456789.125", -2.5e-10: "-2.5e-10",
		5e-324: "5e-324", 1.7976931348623157e308: "1.7976931348623157e+308",
	} {
		if got := formatJSNumber(f); got != want {
			t.Errorf("formatJSNumber(%v) = %s, want %s", f, got, want)
		}
	}
}
