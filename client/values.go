package client

import (
	"fmt"
	"reflect"

	"github.com/fxamacker/cbor/v2"
)

// User values (action arguments and outputs, event arguments, input, error
// metadata) travel as canonical CBOR inside every encoding; the wire package
// converts them to and from JSON when the JSON encoding is used. Go values
// are converted with fxamacker/cbor: struct fields honour `cbor` tags and
// fall back to `json` tags, []byte becomes a byte string, *big.Int a bignum.

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.EncOptions{
		Sort:          cbor.SortCoreDeterministic,
		BigIntConvert: cbor.BigIntConvertShortest,
		// JSON has no time type and JS dates round-trip as strings, so
		// times are sent as RFC 3339 strings without a tag.
		Time: cbor.TimeRFC3339Nano,
	}.EncMode()
	if err != nil {
		panic("client: cbor encoder options: " + err.Error())
	}
	decMode, err = cbor.DecOptions{
		// Values from JavaScript only ever have string map keys; decoding
		// into map[string]any keeps `any` results usable with encoding/json.
		DefaultMapType: reflect.TypeOf(map[string]any(nil)),
		IntDec:         cbor.IntDecConvertSignedOrBigInt,
	}.DecMode()
	if err != nil {
		panic("client: cbor decoder options: " + err.Error())
	}
}

// encodeValue converts a Go value into canonical CBOR.
func encodeValue(v any) ([]byte, error) {
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode value: %w", err)
	}
	return b, nil
}

// encodeArgs converts positional arguments into a canonical CBOR array. No
// arguments encode as an empty array, never as null.
func encodeArgs(args []any) ([]byte, error) {
	if args == nil {
		args = []any{}
	}
	b, err := encMode.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("encode arguments: %w", err)
	}
	return b, nil
}

// decodeValue decodes canonical CBOR into out. A nil out discards the value.
// An absent value (nil or empty data) leaves out untouched.
func decodeValue(data []byte, out any) error {
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := decMode.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode value: %w", err)
	}
	return nil
}

// RawArgs holds the positional arguments of an event as received from the
// actor. Arguments are decoded on demand with Decode.
type RawArgs struct {
	items []cbor.RawMessage
}

// newRawArgs splits a canonical CBOR array into its elements.
func newRawArgs(data []byte) (RawArgs, error) {
	if len(data) == 0 {
		return RawArgs{}, nil
	}
	var items []cbor.RawMessage
	if err := decMode.Unmarshal(data, &items); err != nil {
		return RawArgs{}, fmt.Errorf("decode event arguments: %w", err)
	}
	return RawArgs{items: items}, nil
}

// Len reports the number of arguments.
func (a RawArgs) Len() int { return len(a.items) }

// Decode decodes argument i into v, which must be a non-nil pointer. Struct
// fields match CBOR map keys by their `cbor` or `json` tag.
func (a RawArgs) Decode(i int, v any) error {
	if i < 0 || i >= len(a.items) {
		return fmt.Errorf("client: event argument %d out of range (have %d)", i, len(a.items))
	}
	if err := decMode.Unmarshal(a.items[i], v); err != nil {
		return fmt.Errorf("client: decode event argument %d: %w", i, err)
	}
	return nil
}

// Raw returns argument i as canonical CBOR, or nil if i is out of range.
func (a RawArgs) Raw(i int) []byte {
	if i < 0 || i >= len(a.items) {
		return nil
	}
	return a.items[i]
}
