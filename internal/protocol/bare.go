package protocol

import (
	"encoding/binary"
	"unicode/utf8"
)

// bareReader reads BARE primitives with the strictness of @rivetkit/bare-ts:
// canonical (minimal) varints, lengths below 2^32, bools of 0 or 1 only,
// valid UTF-8 strings.
type bareReader struct {
	b   []byte
	off int
}

var errBARETruncated = malformed("bare: unexpected end of data")

// openBARE checks the u16 little-endian version prefix against the
// versions accepted for a message type and returns a reader positioned
// after it.
func openBARE(body []byte, minVersion uint16) (*bareReader, uint16, error) {
	if len(body) < 2 {
		return nil, 0, malformed("bare: payload too short for embedded version")
	}
	v := binary.LittleEndian.Uint16(body)
	if v < minVersion || v > CurrentVersion {
		return nil, 0, malformed("bare: unsupported protocol version %d", v)
	}
	return &bareReader{b: body, off: 2}, v, nil
}

func (r *bareReader) u8() (byte, error) {
	if r.off >= len(r.b) {
		return 0, errBARETruncated
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

// uint reads a BARE uint: a LEB128 varint of at most 10 bytes, minimal.
func (r *bareReader) uint() (uint64, error) {
	var x uint64
	for i := 0; ; i++ {
		c, err := r.u8()
		if err != nil {
			return 0, err
		}
		if i == 9 && c > 1 {
			return 0, malformed("bare: uint overflows 64 bits")
		}
		x |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 {
				return 0, malformed("bare: non-canonical uint")
			}
			return x, nil
		}
	}
}

// length reads a string or data length (a uint below 2^32) and checks that
// that many bytes remain, before anything is allocated.
func (r *bareReader) length() (int, error) {
	n, err := r.uint()
	if err != nil {
		return 0, err
	}
	if n > 0xffffffff {
		return 0, malformed("bare: length too large")
	}
	if n > uint64(len(r.b)-r.off) {
		return 0, errBARETruncated
	}
	return int(n), nil
}

func (r *bareReader) str() (string, error) {
	n, err := r.length()
	if err != nil {
		return "", err
	}
	s := string(r.b[r.off : r.off+n])
	r.off += n
	if !utf8.ValidString(s) {
		return "", malformed("bare: invalid utf-8 string")
	}
	return s, nil
}

func (r *bareReader) data() ([]byte, error) {
	n, err := r.length()
	if err != nil {
		return nil, err
	}
	d := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return d, nil
}

func (r *bareReader) boolean() (bool, error) {
	c, err := r.u8()
	if err != nil {
		return false, err
	}
	if c > 1 {
		return false, malformed("bare: bool must be 0 or 1")
	}
	return c == 1, nil
}

func (r *bareReader) u64() (uint64, error) {
	if len(r.b)-r.off < 8 {
		return 0, errBARETruncated
	}
	x := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return x, nil
}

func (r *bareReader) optStr() (*string, error) {
	if ok, err := r.boolean(); err != nil || !ok {
		return nil, err
	}
	s, err := r.str()
	if err != nil {
		return nil, err
	}
	return &s, nil
}

func (r *bareReader) optUint() (*uint64, error) {
	if ok, err := r.boolean(); err != nil || !ok {
		return nil, err
	}
	u, err := r.uint()
	if err != nil {
		return nil, err
	}
	return &u, nil
}

func (r *bareReader) optBool() (*bool, error) {
	if ok, err := r.boolean(); err != nil || !ok {
		return nil, err
	}
	b, err := r.boolean()
	if err != nil {
		return nil, err
	}
	return &b, nil
}

func (r *bareReader) optU64() (*uint64, error) {
	if ok, err := r.boolean(); err != nil || !ok {
		return nil, err
	}
	u, err := r.u64()
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// value reads a data field holding CBOR written by encodeCborCompat and
// returns its canonical encoding.
func (r *bareReader) value() ([]byte, *value, error) {
	d, err := r.data()
	if err != nil {
		return nil, nil, err
	}
	v, err := decodeValue(d, true)
	if err != nil {
		return nil, nil, err
	}
	return encodeCanonical(&v), &v, nil
}

func (r *bareReader) optValue() ([]byte, error) {
	if ok, err := r.boolean(); err != nil || !ok {
		return nil, err
	}
	b, _, err := r.value()
	return b, err
}

func (r *bareReader) actor() (*ActorSpecifier, error) {
	if ok, err := r.boolean(); err != nil || !ok {
		return nil, err
	}
	var a ActorSpecifier
	var err error
	if a.ActorID, err = r.str(); err != nil {
		return nil, err
	}
	if a.Generation, err = r.uint(); err != nil {
		return nil, err
	}
	if a.Key, err = r.optStr(); err != nil {
		return nil, err
	}
	return &a, nil
}

// end fails if bytes remain.
func (r *bareReader) end() error {
	if r.off != len(r.b) {
		return malformed("bare: %d trailing bytes", len(r.b)-r.off)
	}
	return nil
}

// bareWriter appends BARE v4 encodings.
type bareWriter struct{ buf []byte }

func newBAREWriter() *bareWriter {
	w := &bareWriter{buf: make([]byte, 0, 64)}
	w.buf = binary.LittleEndian.AppendUint16(w.buf, CurrentVersion)
	return w
}

func (w *bareWriter) u8(c byte)     { w.buf = append(w.buf, c) }
func (w *bareWriter) uint(x uint64) { w.buf = binary.AppendUvarint(w.buf, x) }
func (w *bareWriter) str(s string) {
	w.uint(uint64(len(s)))
	w.buf = append(w.buf, s...)
}
func (w *bareWriter) data(d []byte) {
	w.uint(uint64(len(d)))
	w.buf = append(w.buf, d...)
}
func (w *bareWriter) boolean(b bool) {
	if b {
		w.u8(1)
	} else {
		w.u8(0)
	}
}
func (w *bareWriter) u64(x uint64) { w.buf = binary.LittleEndian.AppendUint64(w.buf, x) }

// value writes a canonical tree as a data field, the way encodeCborCompat
// would have written it.
func (w *bareWriter) value(v *value) {
	var cw cborWriter
	cw.emit(v, modeCompat)
	w.data(cw.buf)
}

func (w *bareWriter) optStr(s *string) {
	w.boolean(s != nil)
	if s != nil {
		w.str(*s)
	}
}

func (w *bareWriter) actor(a *ActorSpecifier) {
	w.boolean(a != nil)
	if a != nil {
		w.str(a.ActorID)
		w.uint(a.Generation)
		w.optStr(a.Key)
	}
}
