package protocol

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

// wireDecMode checks well-formedness and resource limits of untrusted CBOR
// before we build a tree from it. It accepts every well-formed encoding
// (non-minimal lengths such as cbor-x's "b9 0001", indefinite lengths).
var wireDecMode = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		MaxNestedLevels:  maxWireDepth,
		MaxArrayElements: maxElements,
		MaxMapPairs:      maxElements,
		IndefLength:      cbor.IndefLengthAllowed,
		TagsMd:           cbor.TagsAllowed,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

// parseCBOR decodes exactly one CBOR data item into a tree. The tree is
// not yet canonicalized (see canonicalize).
func parseCBOR(data []byte) (value, error) {
	if len(data) == 0 {
		return value{}, malformed("empty cbor")
	}
	if err := wireDecMode.Wellformed(data); err != nil {
		return value{}, wrapMalformed("cbor", err)
	}
	p := cborParser{data: data}
	v, err := p.item(0)
	if err != nil {
		return value{}, err
	}
	if p.off != len(data) {
		return value{}, malformed("cbor: %d trailing bytes", len(data)-p.off)
	}
	return v, nil
}

// cborParser builds a value tree. It is only run on input that passed
// wireDecMode.Wellformed, but checks every bound itself anyway.
type cborParser struct {
	data []byte
	off  int
	// indef holds the element counts of all indefinite-length arrays and
	// maps in document order, filled by one pre-scan when the first one is
	// met, so their slices are allocated at final size (appending would
	// allocate several times that) without rescanning nested ones.
	indef     []uint64
	indefNext int
	scanned   bool
	record    bool // skip records counts into indef
}

var errCBORTruncated = malformed("cbor: unexpected end of data")

// head reads an initial byte and its argument. indef reports additional
// information 31.
func (p *cborParser) head() (major byte, ai byte, arg uint64, indef bool, err error) {
	if p.off >= len(p.data) {
		return 0, 0, 0, false, errCBORTruncated
	}
	b := p.data[p.off]
	p.off++
	major, ai = b>>5, b&0x1f
	switch {
	case ai < 24:
		return major, ai, uint64(ai), false, nil
	case ai <= 27:
		n := 1 << (ai - 24)
		if len(p.data)-p.off < n {
			return 0, 0, 0, false, errCBORTruncated
		}
		var x uint64
		for _, c := range p.data[p.off : p.off+n] {
			x = x<<8 | uint64(c)
		}
		p.off += n
		return major, ai, x, false, nil
	case ai == 31:
		return major, ai, 0, true, nil
	default:
		return 0, 0, 0, false, malformed("cbor: reserved additional information %d", ai)
	}
}

// isBreak consumes a break stop code if one is next.
func (p *cborParser) isBreak() (bool, error) {
	if p.off >= len(p.data) {
		return false, errCBORTruncated
	}
	if p.data[p.off] == 0xff {
		p.off++
		return true, nil
	}
	return false, nil
}

func (p *cborParser) remaining() uint64 { return uint64(len(p.data) - p.off) }

func (p *cborParser) item(depth int) (value, error) {
	major, ai, arg, indef, err := p.head()
	if err != nil {
		return value{}, err
	}
	switch major {
	case 0:
		return value{k: kUint, u: arg, wide: ai == 27}, nil
	case 1:
		return value{k: kNint, u: arg, wide: ai == 27}, nil
	case 2, 3:
		s, err := p.str(major, arg, indef)
		if err != nil {
			return value{}, err
		}
		if major == 2 {
			return value{k: kBytes, s: s}, nil
		}
		return value{k: kText, s: s}, nil
	case 4, 5:
		if depth+1 > maxWireDepth {
			return value{}, malformed("cbor: nesting deeper than %d", maxWireDepth)
		}
		per := uint64(1)
		k := kArray
		if major == 5 {
			per, k = 2, kMap
		}
		v := value{k: k}
		if indef {
			// Size the slice first: appending element by element would
			// allocate several times the final size.
			n, err := p.indefiniteCount()
			if err != nil {
				return value{}, err
			}
			if n > maxElements {
				return value{}, malformed("cbor: more than %d elements", maxElements)
			}
			v.items = make([]value, 0, n*per)
			for {
				brk, err := p.isBreak()
				if err != nil {
					return value{}, err
				}
				if brk {
					break
				}
				if uint64(len(v.items))/per >= maxElements {
					return value{}, malformed("cbor: more than %d elements", maxElements)
				}
				for range per {
					c, err := p.item(depth + 1)
					if err != nil {
						return value{}, err
					}
					v.items = append(v.items, c)
				}
			}
			return v, nil
		}
		if arg > maxElements || arg*per > p.remaining() {
			return value{}, malformed("cbor: %d elements exceed the input", arg)
		}
		v.items = make([]value, 0, arg*per)
		for range arg * per {
			c, err := p.item(depth + 1)
			if err != nil {
				return value{}, err
			}
			v.items = append(v.items, c)
		}
		return v, nil
	case 6:
		if indef {
			return value{}, malformed("cbor: indefinite tag")
		}
		if depth+1 > maxWireDepth {
			return value{}, malformed("cbor: nesting deeper than %d", maxWireDepth)
		}
		c, err := p.item(depth + 1)
		if err != nil {
			return value{}, err
		}
		return value{k: kTag, u: arg, items: []value{c}}, nil
	default: // 7
		switch {
		case indef:
			return value{}, malformed("cbor: unexpected break")
		case ai < 24:
			return simple(arg), nil
		case ai == 24:
			if arg < 32 {
				return value{}, malformed("cbor: invalid simple value %d", arg)
			}
			return simple(arg), nil
		default:
			return value{k: kFloat, u: arg, w: 1 << (ai - 24)}, nil
		}
	}
}

// indefiniteCount returns the element count of the next indefinite-length
// container, scanning the document once on first use.
func (p *cborParser) indefiniteCount() (uint64, error) {
	if !p.scanned {
		p.scanned = true
		q := cborParser{data: p.data, record: true}
		if err := q.skip(); err != nil {
			return 0, err
		}
		p.indef = q.indef
	}
	if p.indefNext >= len(p.indef) {
		return 0, malformed("cbor: inconsistent indefinite-length items")
	}
	n := p.indef[p.indefNext]
	p.indefNext++
	return n, nil
}

// skip consumes one data item.
func (p *cborParser) skip() error {
	major, _, arg, indef, err := p.head()
	if err != nil {
		return err
	}
	switch major {
	case 2, 3:
		if !indef {
			if arg > p.remaining() {
				return errCBORTruncated
			}
			p.off += int(arg)
			return nil
		}
		for {
			brk, err := p.isBreak()
			if err != nil || brk {
				return err
			}
			if err := p.skip(); err != nil {
				return err
			}
		}
	case 4, 5:
		per := uint64(1)
		if major == 5 {
			per = 2
		}
		if !indef {
			if arg > p.remaining() {
				return errCBORTruncated
			}
			for range arg * per {
				if err := p.skip(); err != nil {
					return err
				}
			}
			return nil
		}
		slot := len(p.indef)
		if p.record {
			p.indef = append(p.indef, 0)
		}
		for n := uint64(0); ; n++ {
			brk, err := p.isBreak()
			if err != nil {
				return err
			}
			if brk {
				if p.record {
					p.indef[slot] = n
				}
				return nil
			}
			for range per {
				if err := p.skip(); err != nil {
					return err
				}
			}
		}
	case 6:
		return p.skip()
	}
	return nil
}

// str reads the payload of a byte or text string.
func (p *cborParser) str(major byte, arg uint64, indef bool) (string, error) {
	if !indef {
		if arg > p.remaining() {
			return "", errCBORTruncated
		}
		s := string(p.data[p.off : p.off+int(arg)])
		p.off += int(arg)
		if major == 3 && !utf8.ValidString(s) {
			return "", malformed("cbor: invalid utf-8 in text string")
		}
		return s, nil
	}
	var sb strings.Builder
	for {
		brk, err := p.isBreak()
		if err != nil {
			return "", err
		}
		if brk {
			return sb.String(), nil
		}
		m, _, n, in, err := p.head()
		if err != nil {
			return "", err
		}
		if m != major || in {
			return "", malformed("cbor: bad chunk in indefinite-length string")
		}
		s, err := p.str(major, n, false)
		if err != nil {
			return "", err
		}
		sb.WriteString(s)
	}
}

// cborWriter appends CBOR to buf.
type cborWriter struct{ buf []byte }

// head writes an initial byte with the shortest argument encoding.
func (w *cborWriter) head(major byte, n uint64) {
	m := major << 5
	switch {
	case n < 24:
		w.buf = append(w.buf, m|byte(n))
	case n <= math.MaxUint8:
		w.buf = append(w.buf, m|24, byte(n))
	case n <= math.MaxUint16:
		w.buf = append(w.buf, m|25)
		w.buf = binary.BigEndian.AppendUint16(w.buf, uint16(n))
	case n <= math.MaxUint32:
		w.buf = append(w.buf, m|26)
		w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(n))
	default:
		w.head8(major, n)
	}
}

// head8 writes an initial byte with the 8-byte argument form, which cbor-x
// reads as a bigint.
func (w *cborWriter) head8(major byte, n uint64) {
	w.buf = append(w.buf, major<<5|27)
	w.buf = binary.BigEndian.AppendUint64(w.buf, n)
}

func (w *cborWriter) text(s string) {
	w.head(3, uint64(len(s)))
	w.buf = append(w.buf, s...)
}

// emitMode selects how a canonical tree is written.
type emitMode uint8

const (
	// modeCanonical writes the tree as is: canonical CBOR.
	modeCanonical emitMode = iota
	// modeWire writes values inside a CBOR-encoded protocol message: native
	// CBOR types, with the "$$" escape wherever the client's
	// reviveJsonCompatValue looks (arrays, plain-object values, Map keys and
	// values; not inside other tags).
	modeWire
	// modeCompat writes what rivetkit's encodeCborCompat writes: bigint,
	// byte strings, undefined and Sets as json-compat tagged arrays, plus
	// the "$$" escape. Used for the CBOR payloads of BARE data fields.
	modeCompat
)

// emit writes v in mode.
func (w *cborWriter) emit(v *value, mode emitMode) {
	switch v.k {
	case kUint, kNint:
		major := byte(0)
		if v.k == kNint {
			major = 1
		}
		switch {
		case v.wide && mode == modeCompat:
			w.bigIntCompat(v)
		case v.wide:
			w.head8(major, v.u)
		default:
			w.head(major, v.u)
		}
	case kBigUint, kBigNint:
		if mode == modeCompat {
			w.bigIntCompat(v)
			return
		}
		t := uint64(tagPosBignum)
		if v.k == kBigNint {
			t = tagNegBignum
		}
		w.head(6, t)
		w.head(2, uint64(len(v.s)))
		w.buf = append(w.buf, v.s...)
	case kFloat:
		switch v.w {
		case 2:
			w.buf = append(w.buf, 0xf9)
			w.buf = binary.BigEndian.AppendUint16(w.buf, uint16(v.u))
		case 4:
			w.buf = append(w.buf, 0xfa)
			w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(v.u))
		default:
			w.buf = append(w.buf, 0xfb)
			w.buf = binary.BigEndian.AppendUint64(w.buf, v.u)
		}
	case kBytes:
		if mode == modeCompat {
			w.head(4, 2)
			w.text("$Uint8Array")
			w.text(base64.StdEncoding.EncodeToString([]byte(v.s)))
			return
		}
		w.head(2, uint64(len(v.s)))
		w.buf = append(w.buf, v.s...)
	case kText:
		w.text(v.s)
	case kArray:
		if mode != modeCanonical && escapes(v) {
			w.head(4, 2)
			w.text("$" + v.items[0].s)
			w.emit(&v.items[1], mode)
			return
		}
		w.head(4, uint64(len(v.items)))
		for i := range v.items {
			w.emit(&v.items[i], mode)
		}
	case kMap:
		// Plain object: keys are left alone by both encodeJsonCompatValue
		// and reviveJsonCompatValue.
		w.head(5, uint64(len(v.items)/2))
		for i := 0; i < len(v.items); i += 2 {
			w.emit(&v.items[i], modeCanonical)
			w.emit(&v.items[i+1], mode)
		}
	case kTag:
		c := &v.items[0]
		switch {
		case mode == modeCompat && v.u == tagSet && c.k == kArray:
			w.head(4, 2)
			w.text("$Set")
			w.head(4, uint64(len(c.items)))
			for i := range c.items {
				w.emit(&c.items[i], mode)
			}
		case mode != modeCanonical && v.u == tagMap && c.k == kMap:
			w.head(6, tagMap)
			w.head(5, uint64(len(c.items)/2))
			for i := range c.items {
				w.emit(&c.items[i], mode)
			}
		default:
			// cbor-x turns other tags into objects (Date, Set, Tag, typed
			// arrays) that the json-compat layer does not look into.
			w.head(6, v.u)
			w.emit(c, modeCanonical)
		}
	case kSimple:
		switch {
		case v.u == simpleUndefined && mode == modeCompat:
			w.head(4, 2)
			w.text("$Undefined")
			w.head(0, 0)
		case v.u < 24:
			w.head(7, v.u)
		default:
			w.buf = append(w.buf, 0xf8, byte(v.u))
		}
	}
}

// bigIntCompat writes ["$BigInt","<decimal>"].
func (w *cborWriter) bigIntCompat(v *value) {
	w.head(4, 2)
	w.text("$BigInt")
	w.text(v.bigInt().String())
}

// escapes reports whether the array v needs the "$$" escape: two elements,
// the first a string starting with "$".
func escapes(v *value) bool {
	return v.k == kArray && len(v.items) == 2 && v.items[0].k == kText && strings.HasPrefix(v.items[0].s, "$")
}

// encodeCanonical returns the canonical CBOR encoding of v.
func encodeCanonical(v *value) []byte {
	var w cborWriter
	w.emit(v, modeCanonical)
	return w.buf
}
