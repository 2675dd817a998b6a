package protocol

import (
	"errors"
	"fmt"
	"math"
	"math/big"
)

// Limits applied to every decoded document. They bound recursion depth and
// make hostile input fail fast; the caller bounds the overall input size.
const (
	// maxValueDepth is the deepest nesting (arrays, maps and tags each
	// count one level) a canonical user value may have.
	maxValueDepth = 128
	// maxWireDepth is the deepest nesting a whole wire document may have:
	// the value limit plus room for the message envelope and json-compat
	// tagging, so that whatever we encode we can decode again.
	maxWireDepth = maxValueDepth + 8
	// maxElements bounds the element count of one array or map.
	maxElements = 1 << 20
	// maxBigIntBytes bounds the magnitude of a big integer (8192 bits).
	maxBigIntBytes = 1024
	// maxBigIntChars bounds the length of a "$BigInt" string.
	maxBigIntChars = 4096
	// maxSafeInteger is Number.MAX_SAFE_INTEGER.
	maxSafeInteger = 1<<53 - 1
)

// kind is the type of one node of a value tree.
type kind uint8

const (
	kUint    kind = iota // non-negative integer u
	kNint                // negative integer -1-u
	kBigUint             // integer with big-endian magnitude s (more than 8 bytes)
	kBigNint             // integer -1-m, m big-endian magnitude s (more than 8 bytes)
	kFloat               // float; u holds the raw bits of width w (2, 4 or 8 bytes)
	kBytes               // byte string s
	kText                // UTF-8 text s
	kArray               // items
	kMap                 // items = key0, value0, key1, value1, ...
	kTag                 // tag number u, content items[0]
	kSimple              // simple value u (20 false, 21 true, 22 null, 23 undefined)
)

// Simple values.
const (
	simpleFalse     = 20
	simpleTrue      = 21
	simpleNull      = 22
	simpleUndefined = 23
)

// Tags with a meaning in rivetkit's value model (cbor-x conventions).
const (
	tagDateString = 0
	tagEpochDate  = 1
	tagPosBignum  = 2
	tagNegBignum  = 3
	tagUint8Array = 64  // cbor-x under Node wraps Uint8Array byte strings in it
	tagSet        = 258 // JS Set
	tagMap        = 259 // JS Map (as opposed to a plain object)
)

// value is one node of a decoded CBOR or JSON document.
//
// Integers carry the JavaScript distinction between number and bigint the
// way cbor-x does: an integer encoded in the 8-byte form (additional info
// 27), or a bignum, is a bigint (wide == true); shorter forms are numbers.
type value struct {
	items []value
	s     string
	u     uint64
	k     kind
	wide  bool  // kUint/kNint: JS bigint
	w     uint8 // kFloat: encoded width in bytes
}

func simple(v uint64) value { return value{k: kSimple, u: v} }
func text(s string) value   { return value{k: kText, s: s} }

func (v *value) isText() bool      { return v.k == kText }
func (v *value) isUndefined() bool { return v.k == kSimple && v.u == simpleUndefined }
func (v *value) isNullish() bool {
	return v.k == kSimple && (v.u == simpleNull || v.u == simpleUndefined)
}

// isBigInt reports whether v is a JS bigint.
func (v *value) isBigInt() bool {
	return ((v.k == kUint || v.k == kNint) && v.wide) || v.k == kBigUint || v.k == kBigNint
}

// float returns the numeric value of a kFloat node.
func (v *value) float() float64 {
	switch v.w {
	case 2:
		return float16ToFloat64(uint16(v.u))
	case 4:
		return float64(math.Float32frombits(uint32(v.u)))
	default:
		return math.Float64frombits(v.u)
	}
}

// bigInt returns the integer value of an integer node.
func (v *value) bigInt() *big.Int {
	var n big.Int
	switch v.k {
	case kUint:
		n.SetUint64(v.u)
	case kNint:
		n.SetUint64(v.u)
		n.Add(&n, big.NewInt(1))
		n.Neg(&n)
	case kBigUint:
		n.SetBytes([]byte(v.s))
	case kBigNint:
		n.SetBytes([]byte(v.s))
		n.Add(&n, big.NewInt(1))
		n.Neg(&n)
	}
	return &n
}

// bigIntValue returns the canonical bigint node for n: the 8-byte integer
// form when it fits, a bignum otherwise.
func bigIntValue(n *big.Int) (value, error) {
	neg := n.Sign() < 0
	m := new(big.Int).Set(n)
	if neg {
		m.Neg(m)
		m.Sub(m, big.NewInt(1)) // CBOR negative: -1-m
	}
	if m.IsUint64() {
		k := kUint
		if neg {
			k = kNint
		}
		return value{k: k, u: m.Uint64(), wide: true}, nil
	}
	b := m.Bytes()
	if len(b) > maxBigIntBytes {
		return value{}, malformed("big integer too large")
	}
	k := kBigUint
	if neg {
		k = kBigNint
	}
	return value{k: k, s: string(b)}, nil
}

// jsNumber returns the node cbor-x writes for the JS number f: an integer
// when f is integral and within [-2^32, 2^32-1] (-0 becomes 0), a float64
// otherwise.
func jsNumber(f float64) value {
	if f == math.Trunc(f) && f >= -4294967296 && f <= 4294967295 {
		if f >= 0 {
			return value{k: kUint, u: uint64(f)}
		}
		return value{k: kNint, u: uint64(-1 - f)}
	}
	return value{k: kFloat, u: math.Float64bits(f), w: 8}
}

// uintValue returns the node for a protocol integer that the schema types
// as a JS number (or number|bigint): a number up to 2^53, a bigint above.
func uintValue(u uint64) value {
	if u <= maxSafeInteger {
		return jsNumber(float64(u))
	}
	return value{k: kUint, u: u, wide: true}
}

// toUint64 converts an integer-valued node (any integer form, or an
// integral non-negative float) to uint64.
func (v *value) toUint64() (uint64, bool) {
	switch v.k {
	case kUint:
		return v.u, true
	case kFloat:
		f := v.float()
		if f >= 0 && f == math.Trunc(f) && f < 18446744073709551616.0 {
			return uint64(f), true
		}
	}
	return 0, false
}

// depth returns the nesting depth of v: 0 for scalars, one more than the
// deepest child for arrays, maps and tags.
func (v *value) depth() int {
	d := 0
	for i := range v.items {
		if c := v.items[i].depth(); c > d {
			d = c
		}
	}
	if v.k == kArray || v.k == kMap || v.k == kTag {
		d++
	}
	return d
}

// float16ToFloat64 converts IEEE 754 half-precision bits to float64.
func float16ToFloat64(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * math.Ldexp(frac, -24)
	case 0x1f:
		if frac == 0 {
			return math.Inf(int(sign))
		}
		return math.NaN()
	default:
		return sign * math.Ldexp(frac+1024, exp-25)
	}
}

// malformed returns an error wrapping ErrMalformed.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// wrapMalformed wraps err (not already wrapping ErrMalformed) with ErrMalformed.
func wrapMalformed(what string, err error) error {
	if errors.Is(err, ErrMalformed) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrMalformed, what, err)
}
