package protocol

import (
	"encoding/base64"
	"math"
	"math/big"
	"strings"
)

// canonicalize rewrites a parsed tree in place into canonical form:
//
//   - bignums (tags 2 and 3) become bigint integers (8-byte form when they
//     fit in 64 bits);
//   - tag 64 around a byte string (cbor-x's Uint8Array marker) is dropped;
//   - duplicate map keys are rejected;
//   - with revive, json-compat tagging is undone the way rivetkit's
//     reviveJsonCompatValue does it: ["$BigInt","1"], ["$Uint8Array",b64],
//     ["$ArrayBuffer",b64], ["$Undefined",x], ["$Set",[...]] and the "$$"
//     escape, in arrays, plain-object values and Map (tag 259) keys and
//     values, but not inside other tags (cbor-x decodes those to objects
//     the reviver does not enter). Any other "$"-tag is malformed.
func canonicalize(v *value, revive bool) error {
	switch v.k {
	case kArray:
		if revive && len(v.items) == 2 && v.items[0].k == kText && strings.HasPrefix(v.items[0].s, "$") {
			return reviveTagged(v)
		}
		for i := range v.items {
			if err := canonicalize(&v.items[i], revive); err != nil {
				return err
			}
		}
	case kMap:
		return canonicalizeMap(v, false, revive)
	case kTag:
		c := &v.items[0]
		if v.u == tagMap && c.k == kMap {
			return canonicalizeMap(c, revive, revive)
		}
		if err := canonicalize(c, false); err != nil {
			return err
		}
		switch v.u {
		case tagPosBignum, tagNegBignum:
			if c.k != kBytes {
				return malformed("bignum content is not a byte string")
			}
			b := strings.TrimLeft(c.s, "\x00")
			if len(b) > maxBigIntBytes {
				return malformed("big integer too large")
			}
			neg := v.u == tagNegBignum
			if len(b) <= 8 {
				var u uint64
				for i := 0; i < len(b); i++ {
					u = u<<8 | uint64(b[i])
				}
				*v = value{k: kUint, u: u, wide: true}
				if neg {
					v.k = kNint
				}
				return nil
			}
			*v = value{k: kBigUint, s: b}
			if neg {
				v.k = kBigNint
			}
		case tagUint8Array:
			if c.k == kBytes {
				*v = *c
			}
		}
	}
	return nil
}

// canonicalizeMap canonicalizes the keys and values of map v and rejects
// duplicate keys.
func canonicalizeMap(v *value, reviveKeys, reviveValues bool) error {
	for i := range v.items {
		r := reviveValues
		if i%2 == 0 {
			r = reviveKeys
		}
		if err := canonicalize(&v.items[i], r); err != nil {
			return err
		}
	}
	if len(v.items) <= 2 {
		return nil
	}
	seen := make(map[string]struct{}, len(v.items)/2)
	for i := 0; i < len(v.items); i += 2 {
		k := &v.items[i]
		var id string
		if k.k == kText {
			id = "t" + k.s
		} else {
			id = "c" + string(encodeCanonical(k))
		}
		if _, dup := seen[id]; dup {
			return malformed("duplicate map key")
		}
		seen[id] = struct{}{}
	}
	return nil
}

// reviveTagged handles a two-element array whose first element is a
// string starting with "$".
func reviveTagged(v *value) error {
	tag, arg := v.items[0].s, &v.items[1]
	switch tag {
	case "$BigInt":
		n, err := reviveBigInt(arg)
		if err != nil {
			return err
		}
		*v = n
	case "$Uint8Array", "$ArrayBuffer":
		if arg.k != kText {
			return malformed("%s payload is not a string", tag)
		}
		b, err := decodeBase64(arg.s)
		if err != nil {
			return err
		}
		*v = value{k: kBytes, s: string(b)}
	case "$Undefined":
		*v = simple(simpleUndefined)
	case "$Set":
		if arg.k != kArray {
			return malformed("$Set payload is not an array")
		}
		for i := range arg.items {
			if err := canonicalize(&arg.items[i], true); err != nil {
				return err
			}
		}
		*v = value{k: kTag, u: tagSet, items: []value{*arg}}
	default:
		if !strings.HasPrefix(tag, "$$") {
			return malformed("unknown json-compat type %q", tag)
		}
		if err := canonicalize(arg, true); err != nil {
			return err
		}
		v.items[0].s = tag[1:]
	}
	return nil
}

// reviveBigInt mirrors BigInt(x) for the payload of ["$BigInt", x].
func reviveBigInt(arg *value) (value, error) {
	switch arg.k {
	case kUint, kNint:
		return value{k: arg.k, u: arg.u, wide: true}, nil
	case kBigUint, kBigNint:
		return *arg, nil
	case kFloat:
		f := arg.float()
		if math.IsInf(f, 0) || math.IsNaN(f) || f != math.Trunc(f) {
			return value{}, malformed("$BigInt payload is not an integer")
		}
		n, _ := big.NewFloat(f).Int(nil)
		return bigIntValue(n)
	case kText:
		n, err := parseJSBigInt(arg.s)
		if err != nil {
			return value{}, err
		}
		return bigIntValue(n)
	}
	return value{}, malformed("$BigInt payload is not a string")
}

// parseJSBigInt parses a string the way JavaScript's BigInt(string) does:
// surrounding whitespace is ignored, "" is 0, decimal digits may carry a
// sign, and 0x/0o/0b prefixes select another radix.
func parseJSBigInt(s string) (*big.Int, error) {
	if len(s) > maxBigIntChars {
		return nil, malformed("$BigInt string too long")
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return new(big.Int), nil
	}
	base := 10
	digits := s
	if len(s) > 2 && s[0] == '0' {
		switch s[1] {
		case 'x', 'X':
			base, digits = 16, s[2:]
		case 'o', 'O':
			base, digits = 8, s[2:]
		case 'b', 'B':
			base, digits = 2, s[2:]
		}
	}
	neg := false
	if base == 10 && (digits[0] == '+' || digits[0] == '-') {
		neg = digits[0] == '-'
		digits = digits[1:]
	}
	if digits == "" {
		return nil, malformed("invalid $BigInt %q", s)
	}
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		ok := false
		switch {
		case c >= '0' && c <= '9':
			ok = int(c-'0') < base
		case c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
			ok = base == 16
		}
		if !ok {
			return nil, malformed("invalid $BigInt %q", s)
		}
	}
	n, ok := new(big.Int).SetString(digits, base)
	if !ok {
		return nil, malformed("invalid $BigInt %q", s)
	}
	if n.BitLen() > 8*maxBigIntBytes {
		return nil, malformed("big integer too large")
	}
	if neg {
		n.Neg(n)
	}
	return n, nil
}

// decodeBase64 accepts standard or URL-safe base64, with or without
// padding, as Node's Buffer.from(s, "base64") does for well-formed input.
func decodeBase64(s string) ([]byte, error) {
	t := strings.TrimRight(s, "=")
	if len(s)-len(t) > 2 {
		return nil, malformed("invalid base64")
	}
	enc := base64.RawStdEncoding
	if strings.ContainsAny(t, "-_") {
		enc = base64.RawURLEncoding
	}
	b, err := enc.DecodeString(t)
	if err != nil {
		return nil, malformed("invalid base64: %v", err)
	}
	return b, nil
}

// decodeValue parses CBOR from the wire and returns its canonical tree.
// revive selects whether json-compat tagging is undone.
func decodeValue(data []byte, revive bool) (value, error) {
	v, err := parseCBOR(data)
	if err != nil {
		return value{}, err
	}
	if err := canonicalize(&v, revive); err != nil {
		return value{}, err
	}
	if d := v.depth(); d > maxValueDepth {
		return value{}, malformed("value nested deeper than %d", maxValueDepth)
	}
	return v, nil
}

// parseCanonical parses a canonical CBOR value handed to an encoder.
func parseCanonical(data []byte) (value, error) {
	v, err := decodeValue(data, false)
	if err != nil {
		return value{}, wrapMalformed("invalid canonical value", err)
	}
	return v, nil
}
