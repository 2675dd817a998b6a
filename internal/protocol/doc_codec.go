package protocol

import (
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// This file holds the shared machinery for the JSON and CBOR encodings,
// where a message is an object tree matching the zod schemas of
// src/common/client-protocol-zod.ts.

// errUnknownEncoding is returned for an Encoding outside the three known.
func errUnknownEncoding(e Encoding) error {
	return fmt.Errorf("protocol: unknown encoding %d", int(e))
}

// decodeDoc parses a JSON or CBOR message and undoes json-compat tagging
// over the whole document, as deserializeWithEncoding does, then returns
// its root object.
func decodeDoc(enc Encoding, data []byte) (fields, error) {
	var v value
	var err error
	switch enc {
	case EncodingJSON:
		v, err = parseJSON(data)
	case EncodingCBOR:
		v, err = parseCBOR(data)
	default:
		return fields{}, errUnknownEncoding(enc)
	}
	if err != nil {
		return fields{}, err
	}
	if err := canonicalize(&v, true); err != nil {
		return fields{}, err
	}
	return object(&v, "message")
}

// fields gives typed access to the members of a decoded object. Unknown
// members are ignored (zod strips them). Optional members that are absent,
// null or undefined read as absent.
type fields struct {
	m    *value
	what string
}

func object(v *value, what string) (fields, error) {
	if v == nil || v.k != kMap {
		return fields{}, malformed("%s is not an object", what)
	}
	return fields{m: v, what: what}, nil
}

func (f fields) get(k string) *value {
	for i := 0; i+1 < len(f.m.items); i += 2 {
		if key := &f.m.items[i]; key.k == kText && key.s == k {
			return &f.m.items[i+1]
		}
	}
	return nil
}

// opt returns the member k, or nil when it is absent, null or undefined.
func (f fields) opt(k string) *value {
	v := f.get(k)
	if v == nil || v.isNullish() {
		return nil
	}
	return v
}

func (f fields) missing(k string) error { return malformed("%s.%s is missing", f.what, k) }
func (f fields) bad(k, want string) error {
	return malformed("%s.%s is not %s", f.what, k, want)
}

func (f fields) obj(k string) (fields, error) {
	v := f.get(k)
	if v == nil {
		return fields{}, f.missing(k)
	}
	return object(v, f.what+"."+k)
}

func (f fields) str(k string) (string, error) {
	v := f.get(k)
	if v == nil {
		return "", f.missing(k)
	}
	if v.k != kText {
		return "", f.bad(k, "a string")
	}
	return v.s, nil
}

func (f fields) optStr(k string) (*string, error) {
	v := f.opt(k)
	if v == nil {
		return nil, nil
	}
	if v.k != kText {
		return nil, f.bad(k, "a string")
	}
	s := v.s
	return &s, nil
}

// uint reads an unsigned integer in any form: a bigint (["$BigInt","N"]
// or the 8-byte CBOR form), a CBOR integer, or an integral JSON number.
func (f fields) uint(k string) (uint64, error) {
	v := f.get(k)
	if v == nil {
		return 0, f.missing(k)
	}
	u, ok := v.toUint64()
	if !ok {
		return 0, f.bad(k, "an unsigned 64-bit integer")
	}
	return u, nil
}

func (f fields) optUint(k string) (*uint64, error) {
	if f.opt(k) == nil {
		return nil, nil
	}
	u, err := f.uint(k)
	return &u, err
}

// optMillis reads an optional number of milliseconds (z.number()): a
// non-negative safe integer; a fractional part is dropped.
func (f fields) optMillis(k string) (*uint64, error) {
	v := f.opt(k)
	if v == nil {
		return nil, nil
	}
	var u uint64
	switch v.k {
	case kUint:
		u = v.u
	case kFloat:
		x := math.Trunc(v.float())
		if !(x >= 0 && x <= maxSafeInteger) {
			return nil, f.bad(k, "a non-negative safe integer")
		}
		u = uint64(x)
	default:
		return nil, f.bad(k, "a number")
	}
	if u > maxSafeInteger {
		return nil, f.bad(k, "a non-negative safe integer")
	}
	return &u, nil
}

func (f fields) boolean(k string) (bool, error) {
	v := f.get(k)
	if v == nil {
		return false, f.missing(k)
	}
	if v.k != kSimple || (v.u != simpleTrue && v.u != simpleFalse) {
		return false, f.bad(k, "a boolean")
	}
	return v.u == simpleTrue, nil
}

func (f fields) optBool(k string) (*bool, error) {
	if f.opt(k) == nil {
		return nil, nil
	}
	b, err := f.boolean(k)
	return &b, err
}

// val returns the canonical encoding of the user value k; an absent member
// is undefined, as in JavaScript.
func (f fields) val(k string) ([]byte, *value, error) {
	v := f.get(k)
	if v == nil {
		u := simple(simpleUndefined)
		return encodeCanonical(&u), &u, nil
	}
	b, err := valueBytes(v)
	return b, v, err
}

// optVal returns the canonical encoding of the user value k, or nil when
// the member is absent.
func (f fields) optVal(k string) ([]byte, error) {
	v := f.get(k)
	if v == nil {
		return nil, nil
	}
	return valueBytes(v)
}

// actor reads an optional ActorSpecifier object.
func (f fields) actor(k string) (*ActorSpecifier, error) {
	if f.opt(k) == nil {
		return nil, nil
	}
	o, err := f.obj(k)
	if err != nil {
		return nil, err
	}
	var a ActorSpecifier
	if a.ActorID, err = o.str("actorId"); err != nil {
		return nil, err
	}
	if a.Generation, err = o.uint("generation"); err != nil {
		return nil, err
	}
	if a.Key, err = o.optStr("key"); err != nil {
		return nil, err
	}
	return &a, nil
}

// valueBytes checks the depth of a user value taken out of a document and
// returns its canonical encoding.
func valueBytes(v *value) ([]byte, error) {
	if v.depth() > maxValueDepth {
		return nil, malformed("value nested deeper than %d", maxValueDepth)
	}
	return encodeCanonical(v), nil
}

// docWriter writes a JSON or CBOR message.
type docWriter struct {
	enc   Encoding
	j     jsonWriter
	c     cborWriter
	first []bool
}

func newDoc(enc Encoding) *docWriter { return &docWriter{enc: enc} }

// begin opens an object with n members.
func (d *docWriter) begin(n int) {
	if d.enc == EncodingJSON {
		d.j.raw("{")
		d.first = append(d.first, true)
		return
	}
	d.c.head(5, uint64(n))
}

func (d *docWriter) end() {
	if d.enc == EncodingJSON {
		d.j.raw("}")
		d.first = d.first[:len(d.first)-1]
	}
}

func (d *docWriter) key(k string) {
	if d.enc == EncodingJSON {
		if !d.first[len(d.first)-1] {
			d.j.raw(",")
		}
		d.first[len(d.first)-1] = false
		d.j.str(k)
		d.j.raw(":")
		return
	}
	d.c.text(k)
}

func (d *docWriter) str(s string) {
	if d.enc == EncodingJSON {
		d.j.str(s)
		return
	}
	d.c.text(s)
}

// bigUint writes a z.bigint() field: ["$BigInt","N"] in JSON, the 8-byte
// integer form in CBOR (cbor-x turns shorter forms into numbers, which zod
// rejects).
func (d *docWriter) bigUint(u uint64) {
	if d.enc == EncodingJSON {
		d.j.bigUint(u)
		return
	}
	d.c.head8(0, u)
}

// numOrBig writes a z.union([z.number(), z.bigint()]) field.
func (d *docWriter) numOrBig(u uint64) {
	v := uintValue(u)
	_ = d.val(&v)
}

// millis writes a z.number() field (a safe integer).
func (d *docWriter) millis(u uint64) {
	v := jsNumber(float64(u))
	_ = d.val(&v)
}

func (d *docWriter) boolean(b bool) {
	v := simple(simpleFalse)
	if b {
		v.u = simpleTrue
	}
	_ = d.val(&v)
}

func (d *docWriter) null() {
	v := simple(simpleNull)
	_ = d.val(&v)
}

// val writes a user value.
func (d *docWriter) val(v *value) error {
	if d.enc == EncodingJSON {
		return d.j.emit(v)
	}
	d.c.emit(v, modeWire)
	return nil
}

// member writes a required user-value member. In JSON an undefined value
// is left out, as JSON.stringify does; decoders read it back as undefined.
func (d *docWriter) member(k string, v *value) error {
	if d.enc == EncodingJSON && v.isUndefined() {
		return nil
	}
	d.key(k)
	return d.val(v)
}

func (d *docWriter) actor(a *ActorSpecifier) {
	n := 2
	if a.Key != nil {
		n++
	}
	d.begin(n)
	d.key("actorId")
	d.str(a.ActorID)
	d.key("generation")
	d.numOrBig(a.Generation)
	if a.Key != nil {
		d.key("key")
		d.str(*a.Key)
	}
	d.end()
}

func (d *docWriter) bytes() []byte {
	if d.enc == EncodingJSON {
		return d.j.buf
	}
	return d.c.buf
}

// checkStrings fails when a string to be encoded is not valid UTF-8, which
// no encoding can carry.
func checkStrings(ss ...string) error {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return fmt.Errorf("protocol: invalid utf-8 in string %s", strconv.Quote(s))
		}
	}
	return nil
}

// userValue parses a canonical value handed to an encoder; empty input
// stands for undefined.
func userValue(b []byte) (value, error) {
	if len(b) == 0 {
		return simple(simpleUndefined), nil
	}
	return parseCanonical(b)
}

// argsValue parses a canonical args array handed to an encoder; empty
// input stands for no arguments.
func argsValue(b []byte) (value, error) {
	if len(b) == 0 {
		return value{k: kArray}, nil
	}
	v, err := parseCanonical(b)
	if err != nil {
		return value{}, err
	}
	if v.k != kArray {
		return value{}, malformed("args is not an array")
	}
	return v, nil
}

// requireArray checks that decoded args are an array.
func requireArray(v *value, what string) error {
	if v.k != kArray {
		return malformed("%s is not an array", what)
	}
	return nil
}
