package runner

import (
	"fmt"
	"reflect"

	"github.com/fxamacker/cbor/v2"
)

// Values cross the engine as canonical CBOR. Go values are encoded with a
// deterministic (sorted-map) encoder so that the same state always encodes to
// the same bytes: the runtime detects state changes by comparing encodings.
var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	eo := cbor.CoreDetEncOptions()
	eo.Time = cbor.TimeRFC3339Nano
	eo.BigIntConvert = cbor.BigIntConvertShortest
	var err error
	if encMode, err = eo.EncMode(); err != nil {
		panic(err)
	}
	do := cbor.DecOptions{
		DefaultMapType:   reflect.TypeOf(map[string]any(nil)),
		MaxNestedLevels:  64,
		MaxArrayElements: 1 << 20,
		MaxMapPairs:      1 << 20,
		DupMapKey:        cbor.DupMapKeyQuiet,
		IndefLength:      cbor.IndefLengthAllowed,
		UTF8:             cbor.UTF8RejectInvalid,
		BigIntDec:        cbor.BigIntDecodeValue,
	}
	if decMode, err = do.DecMode(); err != nil {
		panic(err)
	}
}

// Marshal encodes v as canonical CBOR, the form every user value takes
// inside rivetkube.
func Marshal(v any) ([]byte, error) {
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode value: %w", err)
	}
	return b, nil
}

// Unmarshal decodes canonical CBOR into v (a pointer). Struct fields match
// `cbor` tags, then `json` tags, then field names.
func Unmarshal(data []byte, v any) error {
	if err := decMode.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode value: %w", err)
	}
	return nil
}

// Raw is an undecoded value (canonical CBOR). A nil Raw means the client
// sent nothing.
type Raw []byte

// Decode decodes the value into v. A missing value leaves v unchanged.
func (r Raw) Decode(v any) error {
	if len(r) == 0 {
		return nil
	}
	return Unmarshal(r, v)
}

// IsZero reports whether no value was sent (or it was null/undefined).
func (r Raw) IsZero() bool {
	return len(r) == 0 || (len(r) == 1 && (r[0] == 0xf6 || r[0] == 0xf7))
}

// Args are the positional arguments of an action or event.
type Args []cbor.RawMessage

// Len returns the number of arguments.
func (a Args) Len() int { return len(a) }

// Decode decodes argument i into v; a missing argument leaves v unchanged.
func (a Args) Decode(i int, v any) error {
	if i < 0 || i >= len(a) {
		return nil
	}
	return Unmarshal(a[i], v)
}

func decodeArgs(data []byte) (Args, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var a Args
	if err := Unmarshal(data, &a); err != nil {
		return nil, err
	}
	return a, nil
}

func encodeArgs(args []any) ([]byte, error) {
	if args == nil {
		args = []any{}
	}
	return Marshal(args)
}

// MarshalCBOR writes the raw value as is (null when empty).
func (r Raw) MarshalCBOR() ([]byte, error) {
	if len(r) == 0 {
		return []byte{0xf6}, nil
	}
	return r, nil
}

// UnmarshalCBOR keeps a copy of the raw value.
func (r *Raw) UnmarshalCBOR(data []byte) error {
	*r = append((*r)[:0], data...)
	return nil
}
