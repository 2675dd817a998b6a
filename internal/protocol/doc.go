// Package protocol implements RivetKit client protocol v4 as spoken by the
// official rivetkit@2.3.19 JavaScript client: the BARE, JSON and CBOR
// encodings of the HTTP action/queue/error bodies and of the WebSocket
// ToServer/ToClient frames, the conversion of user values between the
// engine's canonical CBOR and what the client puts on the wire, and actor
// key serialization.
//
// The formats follow the client's sources: the BARE layouts of
// src/common/bare/generated/client-protocol/v1..v4.ts, the object shapes of
// src/common/client-protocol-zod.ts, the json-compat tagging of
// src/common/encoding.ts and the serializers of src/serde.ts.
// testdata/golden.json holds encodings written by those real serializers
// (regenerate with testdata/jsgolden/run.mjs, which can also check our
// encodings with the real decoders).
//
// # Canonical values
//
// Every user value (args, outputs, event args, metadata, queue bodies and
// responses, create input) crosses the API as canonical CBOR, which models
// the JavaScript value the client sees, with cbor-x's conventions:
//
//   - A CBOR integer in the 8-byte form (additional information 27), or a
//     bignum (tags 2/3) beyond 64 bits, is a bigint; any shorter integer
//     form is a number. Go code writing canonical CBOR with a shortest-form
//     encoder therefore produces bigints for integers of 2^32 and above; a
//     JS number that large is a float64, as cbor-x writes it.
//   - Floats keep the width they were written with; JS numbers from JSON are
//     written as cbor-x writes them: an integer in [-2^32, 2^32-1], else a
//     float64.
//   - A byte string is a Uint8Array, simple value 23 is undefined, tag 258
//     around an array is a Set, tag 259 around a map is a Map, an untagged
//     map is a plain object, tag 1 is a Date.
//   - There is no json-compat tagging: an array ["$x", 1] is just that.
//
// Canonical output is normalized: definite lengths, shortest heads (except
// the 8-byte bigint form), bignums that fit in 64 bits in the 8-byte form,
// tag 64 (cbor-x's Uint8Array marker) dropped, and no duplicate map keys.
// Encoders accept any well-formed CBOR as canonical input; empty Args stand
// for an empty array and an empty Output or Body for undefined.
//
// # Wire forms of values
//
//   - JSON (messages and JSONToValue/ValueToJSON): jsonStringifyCompat's
//     form: bigint ["$BigInt","N"], bytes ["$Uint8Array","<base64>"], and
//     a two-element array whose first element is a string starting with "$"
//     gets one more "$". We also write ["$Undefined",0] and ["$Set",[...]],
//     which the client's reviver understands, so undefined and Sets survive;
//     a required member that is undefined is left out, as JSON.stringify
//     does, and reads back as undefined. JSON cannot carry Maps (written as
//     plain objects), Dates (ISO strings), NaN/±Infinity (null), other tags
//     (their content) or a float holding an integer (it comes back as an
//     integer).
//   - BARE data fields (and create input / rvt-input, see
//     CompatCBORToValue): CBOR as encodeCborCompat writes it, i.e. the same
//     tagging inside CBOR; Maps stay tag 259 with tagged keys and values.
//   - CBOR messages: the client writes values with plain cbor-x (native
//     bigints, byte strings, undefined, Sets, Maps) but decodes them through
//     the json-compat reviver, so we write native CBOR plus the "$"-escape
//     where the reviver looks (arrays, plain-object values, Map keys and
//     values; not inside other tags).
//
// Decoding undoes the tagging exactly where rivetkit's
// reviveJsonCompatValue does, over the whole decoded message; an unknown
// "$"-tag is malformed, as it is for rivetkit (so a CBOR client that sends
// the array ["$x", 1], which rivetkit does not escape, is rejected just as
// rivetkit's own server rejects it).
//
// # Messages
//
// BARE: a u16 little-endian version prefix, then the struct. We always
// write version 4 and read versions 1-4 (3-4 for the queue messages), with
// the older layouts of Init (v1 connectionToken) and Error (no actor before
// v4). Uints are minimal LEB128 varints, lengths below 2^32, bools 0 or 1,
// strings valid UTF-8, no trailing bytes, as in @rivetkit/bare-ts.
//
// JSON/CBOR: objects as the zod schemas, members in schema order. Unknown
// members are ignored; optional members may be absent, null or undefined.
// z.bigint() members (ids) are written as ["$BigInt","N"] in JSON and as
// 8-byte CBOR integers (cbor-x reads shorter ones as numbers, which zod
// rejects), and read in any integer form. Generations are written as
// numbers up to 2^53-1 and as bigints above; queue timeouts must be safe
// integers.
//
// # Invariants
//
//   - Decoders never panic. Every error caused by input wraps ErrMalformed.
//   - Whatever a decoder accepts, the matching encoder encodes in the same
//     encoding to bytes that decode to an equal value (the fuzz targets
//     check this).
//   - Limits: values nest at most 128 levels (arrays, maps and tags each
//     count), whole documents 136; an array or map holds at most 2^20
//     elements; big integers have at most 8192 bits. Length prefixes and
//     element counts are checked against the remaining input before
//     anything is allocated. Untrusted CBOR is first checked with
//     fxamacker/cbor's Wellformed under these limits and then read into a
//     small tree (fxamacker's decoders lose the integer width and the map
//     order that carry meaning here). The tree costs about 56 bytes per
//     element: allocation is O(input), up to ~60x for input made of
//     one-byte CBOR items (~30x for JSON). The caller bounds input size.
//   - Encoders fail on values no encoding can carry: invalid UTF-8 strings,
//     malformed canonical CBOR, args that are not an array, an invalid queue
//     status, or not exactly one member set in ToServer/ToClient.
//
// # Keys
//
// SerializeKey and DeserializeKey mirror serializeActorKey and
// deserializeActorKey of src/actor/keys.ts, quirks included (DeserializeKey
// reads "x\0" as [""], a trailing lone backslash literally, "" as the empty
// key); DeserializeKey only rejects invalid UTF-8. ParseQueryKey splits the
// rvt-key query parameter, which the client writes as key.join(",") and so
// cannot carry parts containing commas.
package protocol
