package protocol

import (
	"bytes"
	"encoding/base64"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// parseJSON parses one JSON document (RFC 8259) into a tree with
// JavaScript semantics: numbers are IEEE doubles written the way cbor-x
// writes them (see jsNumber), objects are plain-object maps with their keys
// in document order (duplicates are rejected later by canonicalize).
// Invalid UTF-8 and lone surrogates become U+FFFD, as TextDecoder and
// JSON.parse leave them unusable anyway.
func parseJSON(doc []byte) (value, error) {
	doc = bytes.TrimPrefix(doc, []byte("\xef\xbb\xbf")) // TextDecoder drops a BOM
	p := jsonParser{b: doc, sizes: containerSizes(doc)}
	v, err := p.value(0)
	if err != nil {
		return value{}, err
	}
	p.space()
	if p.off != len(p.b) {
		return value{}, malformed("json: trailing data at offset %d", p.off)
	}
	return v, nil
}

type jsonParser struct {
	b   []byte
	off int
	// sizes[i] is the element count of the i-th container in document
	// order, from a quick pre-scan, so item slices are allocated at their
	// final size (appending a million elements would allocate ~5x that).
	// Only a hint: the parser itself validates.
	sizes []int32
	next  int
}

// containerSizes pre-scans a JSON document and returns the element count
// of each array and object, in order of their opening brackets.
func containerSizes(b []byte) []int32 {
	var sizes []int32
	var open []int
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '[', '{':
			open = append(open, len(sizes))
			sizes = append(sizes, 1)
		case ',':
			if len(open) > 0 {
				sizes[open[len(open)-1]]++
			}
		case ']', '}':
			if len(open) > 0 {
				open = open[:len(open)-1]
			}
		}
	}
	return sizes
}

func (p *jsonParser) space() {
	for p.off < len(p.b) {
		switch p.b[p.off] {
		case ' ', '\t', '\n', '\r':
			p.off++
		default:
			return
		}
	}
}

func (p *jsonParser) errAt(what string) error {
	if p.off >= len(p.b) {
		return malformed("json: unexpected end of input")
	}
	return malformed("json: %s at offset %d", what, p.off)
}

// literal consumes word if it is next.
func (p *jsonParser) literal(word string) bool {
	if bytes.HasPrefix(p.b[p.off:], []byte(word)) {
		p.off += len(word)
		return true
	}
	return false
}

func (p *jsonParser) value(depth int) (value, error) {
	p.space()
	if p.off >= len(p.b) {
		return value{}, p.errAt("")
	}
	switch c := p.b[p.off]; {
	case c == '[' || c == '{':
		if depth+1 > maxWireDepth {
			return value{}, malformed("json: nesting deeper than %d", maxWireDepth)
		}
		p.off++
		v := value{k: kArray}
		closer := byte(']')
		if c == '{' {
			v.k, closer = kMap, '}'
		}
		p.space()
		if p.off < len(p.b) && p.b[p.off] == closer {
			p.off++
			return v, nil
		}
		if p.next < len(p.sizes) {
			n := int(p.sizes[p.next])
			if v.k == kMap {
				n *= 2
			}
			v.items = make([]value, 0, min(n, len(p.b)-p.off, 2*maxElements))
		}
		p.next++
		for {
			if len(v.items) >= 2*maxElements {
				return value{}, malformed("json: more than %d elements", maxElements)
			}
			if v.k == kMap {
				p.space()
				if p.off >= len(p.b) || p.b[p.off] != '"' {
					return value{}, p.errAt("expected object key")
				}
				k, err := p.str()
				if err != nil {
					return value{}, err
				}
				v.items = append(v.items, text(k))
				p.space()
				if p.off >= len(p.b) || p.b[p.off] != ':' {
					return value{}, p.errAt("expected ':'")
				}
				p.off++
			}
			item, err := p.value(depth + 1)
			if err != nil {
				return value{}, err
			}
			v.items = append(v.items, item)
			p.space()
			if p.off >= len(p.b) {
				return value{}, p.errAt("")
			}
			switch p.b[p.off] {
			case ',':
				p.off++
			case closer:
				p.off++
				return v, nil
			default:
				return value{}, p.errAt("expected ',' or closing bracket")
			}
		}
	case c == '"':
		s, err := p.str()
		if err != nil {
			return value{}, err
		}
		return text(s), nil
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case p.literal("true"):
		return simple(simpleTrue), nil
	case p.literal("false"):
		return simple(simpleFalse), nil
	case p.literal("null"):
		return simple(simpleNull), nil
	}
	return value{}, p.errAt("unexpected character")
}

// number parses a JSON number like JSON.parse: to the nearest double.
func (p *jsonParser) number() (value, error) {
	start := p.off
	digits := func() int {
		n := 0
		for p.off < len(p.b) && p.b[p.off] >= '0' && p.b[p.off] <= '9' {
			p.off++
			n++
		}
		return n
	}
	if p.b[p.off] == '-' {
		p.off++
	}
	if p.off < len(p.b) && p.b[p.off] == '0' {
		p.off++
	} else if digits() == 0 {
		return value{}, p.errAt("invalid number")
	}
	if p.off < len(p.b) && p.b[p.off] == '.' {
		p.off++
		if digits() == 0 {
			return value{}, p.errAt("invalid number")
		}
	}
	if p.off < len(p.b) && (p.b[p.off] == 'e' || p.b[p.off] == 'E') {
		p.off++
		if p.off < len(p.b) && (p.b[p.off] == '+' || p.b[p.off] == '-') {
			p.off++
		}
		if digits() == 0 {
			return value{}, p.errAt("invalid number")
		}
	}
	lit := string(p.b[start:p.off])
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil && (math.IsInf(f, 0) || !errors.Is(err, strconv.ErrRange)) {
		// JSON.parse would give ±Infinity, which JSON cannot carry back.
		return value{}, malformed("json: number %.20s out of range", lit)
	}
	return jsNumber(f), nil
}

// str parses a string literal starting at the opening quote.
func (p *jsonParser) str() (string, error) {
	p.off++ // opening quote
	start := p.off
	// Fast path: no escapes and valid UTF-8.
	for p.off < len(p.b) {
		c := p.b[p.off]
		if c == '"' {
			s := p.b[start:p.off]
			if utf8.Valid(s) {
				p.off++
				return string(s), nil
			}
			break
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.off++
	}
	p.off = start
	var sb strings.Builder
	for {
		if p.off >= len(p.b) {
			return "", p.errAt("")
		}
		c := p.b[p.off]
		switch {
		case c == '"':
			p.off++
			return sb.String(), nil
		case c < 0x20:
			return "", p.errAt("control character in string")
		case c == '\\':
			if p.off+1 >= len(p.b) {
				return "", p.errAt("")
			}
			e := p.b[p.off+1]
			p.off += 2
			switch e {
			case '"', '\\', '/':
				sb.WriteByte(e)
			case 'b':
				sb.WriteByte('\b')
			case 'f':
				sb.WriteByte('\f')
			case 'n':
				sb.WriteByte('\n')
			case 'r':
				sb.WriteByte('\r')
			case 't':
				sb.WriteByte('\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", p.errAt("invalid \\u escape")
				}
				if utf16.IsSurrogate(r) {
					r2 := unicode.ReplacementChar
					if r < 0xdc00 && p.off+1 < len(p.b) && p.b[p.off] == '\\' && p.b[p.off+1] == 'u' {
						save := p.off
						p.off += 2
						if lo, ok := p.hex4(); ok && utf16.DecodeRune(r, lo) != unicode.ReplacementChar {
							r2 = utf16.DecodeRune(r, lo)
						} else {
							p.off = save
						}
					}
					r = r2
				}
				sb.WriteRune(r)
			default:
				return "", p.errAt("invalid escape")
			}
		default:
			r, size := utf8.DecodeRune(p.b[p.off:])
			if r == utf8.RuneError && size == 1 {
				sb.WriteRune(unicode.ReplacementChar)
			} else {
				sb.Write(p.b[p.off : p.off+size])
			}
			p.off += size
		}
	}
}

func (p *jsonParser) hex4() (rune, bool) {
	if len(p.b)-p.off < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.off : p.off+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	p.off += 4
	return r, true
}

// jsonWriter appends JSON the way JSON.stringify formats it.
type jsonWriter struct{ buf []byte }

func (w *jsonWriter) raw(s string) { w.buf = append(w.buf, s...) }

// str writes a JSON string literal with JSON.stringify's escaping.
func (w *jsonWriter) str(s string) {
	const hex = "0123456789abcdef"
	w.buf = append(w.buf, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		w.buf = append(w.buf, s[start:i]...)
		switch c {
		case '"':
			w.raw(`\"`)
		case '\\':
			w.raw(`\\`)
		case '\b':
			w.raw(`\b`)
		case '\f':
			w.raw(`\f`)
		case '\n':
			w.raw(`\n`)
		case '\r':
			w.raw(`\r`)
		case '\t':
			w.raw(`\t`)
		default:
			w.buf = append(w.buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	w.buf = append(w.buf, s[start:]...)
	w.buf = append(w.buf, '"')
}

// tagged writes ["<tag>", <string>].
func (w *jsonWriter) tagged(tag, payload string) {
	w.raw(`["`)
	w.raw(tag)
	w.raw(`",`)
	w.str(payload)
	w.raw(`]`)
}

// bigUint writes a u64 as ["$BigInt","N"].
func (w *jsonWriter) bigUint(u uint64) { w.tagged("$BigInt", strconv.FormatUint(u, 10)) }

// emit writes a canonical tree as json-compat JSON, as the client's
// jsonParseCompat expects: bigint → ["$BigInt","N"], bytes →
// ["$Uint8Array","<base64>"], undefined → ["$Undefined",0], Set →
// ["$Set",[...]], two-element arrays starting with a "$" string get an
// extra "$". JSON has no place for NaN and ±Infinity; like JSON.stringify
// they become null.
func (w *jsonWriter) emit(v *value) error {
	switch v.k {
	case kUint, kNint, kBigUint, kBigNint:
		if v.isBigInt() {
			w.tagged("$BigInt", v.bigInt().String())
		} else if v.k == kUint {
			w.buf = strconv.AppendUint(w.buf, v.u, 10)
		} else {
			w.buf = strconv.AppendInt(w.buf, -1-int64(v.u), 10) // non-wide: u < 2^32
		}
	case kFloat:
		w.raw(formatJSNumber(v.float()))
	case kBytes:
		w.tagged("$Uint8Array", base64.StdEncoding.EncodeToString([]byte(v.s)))
	case kText:
		w.str(v.s)
	case kArray:
		if len(v.items) == 2 {
			if s, ok := jsonString(&v.items[0]); ok && strings.HasPrefix(s, "$") {
				w.raw(`[`)
				w.str("$" + s)
				w.raw(`,`)
				if err := w.emit(&v.items[1]); err != nil {
					return err
				}
				w.raw(`]`)
				return nil
			}
		}
		return w.array(v.items)
	case kMap:
		return w.object(v.items)
	case kTag:
		c := &v.items[0]
		switch {
		case v.u == tagSet && c.k == kArray:
			w.raw(`["$Set",`)
			if err := w.array(c.items); err != nil {
				return err
			}
			w.raw(`]`)
		case v.u == tagEpochDate && (c.k == kUint || c.k == kNint || c.k == kFloat):
			// A Date: JSON.stringify uses toISOString (null when invalid).
			var sec float64
			if c.k == kFloat {
				sec = c.float()
			} else {
				sec, _ = c.bigInt().Float64()
			}
			if s, ok := jsISODate(sec); ok {
				w.str(s)
			} else {
				w.raw("null")
			}
		default:
			// Tag 259 (Map) becomes a plain object; other tags have no
			// json-compat form, their content stands in for them.
			return w.emit(c)
		}
	case kSimple:
		switch v.u {
		case simpleFalse:
			w.raw("false")
		case simpleTrue:
			w.raw("true")
		case simpleUndefined:
			w.raw(`["$Undefined",0]`)
		default:
			w.raw("null")
		}
	}
	return nil
}

// jsonString reports whether emit writes v as a JSON string, and which:
// text, or a tag without a json-compat form around one.
func jsonString(v *value) (string, bool) {
	for v.k == kTag {
		c := &v.items[0]
		if (v.u == tagSet && c.k == kArray) || (v.u == tagEpochDate && (c.k == kUint || c.k == kNint || c.k == kFloat)) {
			return "", false // an array, or an ISO date string that cannot start with "$"
		}
		v = c
	}
	if v.k == kText {
		return v.s, true
	}
	return "", false
}

func (w *jsonWriter) array(items []value) error {
	w.raw(`[`)
	for i := range items {
		if i > 0 {
			w.raw(`,`)
		}
		if err := w.emit(&items[i]); err != nil {
			return err
		}
	}
	w.raw(`]`)
	return nil
}

// object writes a map as a JSON object. Keys become strings as cbor-x
// does it (numbers, booleans, bigints, null and undefined are
// stringified; other key types are an error); when two keys stringify the
// same, the last value wins at the first position, like a JS object.
func (w *jsonWriter) object(items []value) error {
	keys := make([]string, len(items)/2)
	allText := true
	for i := range keys {
		k := &items[2*i]
		if k.k != kText {
			allText = false
		}
		s, err := jsKeyString(k)
		if err != nil {
			return err
		}
		keys[i] = s
	}
	last := map[string]int(nil)
	if !allText {
		last = make(map[string]int, len(keys))
		for i, k := range keys {
			last[k] = i
		}
	}
	w.raw(`{`)
	first := true
	written := map[string]bool(nil)
	if !allText {
		written = make(map[string]bool, len(keys))
	}
	for i, k := range keys {
		vi := i
		if !allText {
			if written[k] {
				continue
			}
			written[k] = true
			vi = last[k]
		}
		if !first {
			w.raw(`,`)
		}
		first = false
		w.str(k)
		w.raw(`:`)
		if err := w.emit(&items[2*vi+1]); err != nil {
			return err
		}
	}
	w.raw(`}`)
	return nil
}

// jsKeyString converts a map key to the property name JavaScript uses.
func jsKeyString(k *value) (string, error) {
	switch k.k {
	case kText:
		return k.s, nil
	case kUint, kNint, kBigUint, kBigNint:
		return k.bigInt().String(), nil
	case kFloat:
		f := k.float()
		if math.IsNaN(f) {
			return "NaN", nil
		}
		if math.IsInf(f, 0) {
			if f > 0 {
				return "Infinity", nil
			}
			return "-Infinity", nil
		}
		return formatJSNumber(f), nil
	case kSimple:
		switch k.u {
		case simpleFalse:
			return "false", nil
		case simpleTrue:
			return "true", nil
		case simpleNull:
			return "null", nil
		case simpleUndefined:
			return "undefined", nil
		}
	}
	return "", malformed("map key of this type has no json form")
}

// formatJSNumber formats f like JavaScript's Number.prototype.toString,
// except that NaN and ±Infinity give "null" as JSON.stringify does.
func formatJSNumber(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "null"
	}
	if f == 0 {
		return "0"
	}
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX, shortest round-trip
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	k, n := len(digits), x+1
	var s string
	switch {
	case k <= n && n <= 21:
		s = digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		s = digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		s = "0." + strings.Repeat("0", -n) + digits
	default:
		es := "+"
		if n-1 < 0 {
			es = "-"
		}
		ex := strconv.Itoa(abs(n - 1))
		if k == 1 {
			s = digits + "e" + es + ex
		} else {
			s = digits[:1] + "." + digits[1:] + "e" + es + ex
		}
	}
	return sign + s
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// jsISODate formats epoch seconds like cbor-x's Date (rounded to the
// millisecond) through Date.prototype.toISOString. ok is false for an
// invalid date.
func jsISODate(sec float64) (string, bool) {
	ms := math.Floor(sec*1000 + 0.5) // Math.round
	if math.IsNaN(ms) || math.Abs(ms) > 8.64e15 {
		return "", false
	}
	t := time.UnixMilli(int64(ms)).UTC()
	y := t.Year()
	var ys string
	switch {
	case y >= 0 && y <= 9999:
		ys = strconv.Itoa(y)
		ys = strings.Repeat("0", 4-len(ys)) + ys
	case y < 0:
		ys = strconv.Itoa(-y)
		ys = "-" + strings.Repeat("0", 6-len(ys)) + ys
	default:
		ys = strconv.Itoa(y)
		ys = "+" + strings.Repeat("0", 6-len(ys)) + ys
	}
	return ys + t.Format("-01-02T15:04:05.000Z"), true
}

// decodeJSONValue parses json-compat JSON into a canonical tree.
func decodeJSONValue(doc []byte) (value, error) {
	v, err := parseJSON(doc)
	if err != nil {
		return value{}, err
	}
	if err := canonicalize(&v, true); err != nil {
		return value{}, err
	}
	if v.depth() > maxValueDepth {
		return value{}, malformed("value nested deeper than %d", maxValueDepth)
	}
	return v, nil
}
