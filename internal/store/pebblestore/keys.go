package pebblestore

// A stored key is the path of bucket names, then the key, each one a
// component: its bytes with 0x00 escaped as 0x00 0xff, then the terminator
// 0x00 0x01. The encoding keeps byte order within a bucket and no
// component is a prefix of another, so a bucket's entries are exactly the
// keys under its prefix, and its nested buckets' contents sort right after
// the nested bucket's own key.

func escape(k []byte) []byte {
	out := make([]byte, 0, len(k)+2)
	for _, c := range k {
		if c == 0 {
			out = append(out, 0, 0xff)
		} else {
			out = append(out, c)
		}
	}
	return out
}

// appendComponent appends k, escaped and terminated, to dst.
func appendComponent(dst, k []byte) []byte {
	for _, c := range k {
		if c == 0 {
			dst = append(dst, 0, 0xff)
		} else {
			dst = append(dst, c)
		}
	}
	return append(dst, 0, 1)
}

// splitComponent decodes the first component of b: its unescaped bytes and
// what follows it; ok is false when b holds no whole component.
func splitComponent(b []byte) (name, rest []byte, ok bool) {
	name = make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != 0 {
			name = append(name, b[i])
			continue
		}
		if i+1 >= len(b) {
			return nil, nil, false
		}
		switch b[i+1] {
		case 0xff:
			name = append(name, 0)
			i++
		case 1:
			return name, b[i+2:], true
		default:
			return nil, nil, false
		}
	}
	return nil, nil, false
}

// prefixEnd is the smallest key above every key that starts with p (nil
// when there is none: p is empty or all 0xff).
func prefixEnd(p []byte) []byte {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != 0xff {
			end := make([]byte, i+1)
			copy(end, p)
			end[i]++
			return end
		}
	}
	return nil
}
