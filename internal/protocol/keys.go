package protocol

import (
	"strings"
	"unicode/utf8"
)

// Key serialization mirrors serializeActorKey/deserializeActorKey of
// rivetkit's src/actor/keys.ts.

const (
	emptyKey     = "/"
	keySeparator = '/'
)

func serializeKey(key []string) string {
	if len(key) == 0 {
		return emptyKey
	}
	var b strings.Builder
	for i, part := range key {
		if i > 0 {
			b.WriteByte(keySeparator)
		}
		if part == "" {
			b.WriteString(`\0`)
			continue
		}
		for j := 0; j < len(part); j++ {
			switch c := part[j]; c {
			case '\\', keySeparator:
				b.WriteByte('\\')
				b.WriteByte(c)
			default:
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}

func deserializeKey(s string) ([]string, error) {
	if !utf8.ValidString(s) {
		return nil, malformed("actor key is not valid utf-8")
	}
	if s == emptyKey {
		return []string{}, nil
	}
	parts := []string{}
	var cur strings.Builder
	escaping, emptyMarker := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaping:
			if c == '0' {
				emptyMarker = true
			} else {
				cur.WriteByte(c)
			}
			escaping = false
		case c == '\\':
			escaping = true
		case c == keySeparator:
			if emptyMarker {
				parts = append(parts, "")
				emptyMarker = false
			} else {
				parts = append(parts, cur.String())
			}
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	switch {
	case escaping: // a trailing lone backslash is literal
		cur.WriteByte('\\')
		parts = append(parts, cur.String())
	case emptyMarker:
		parts = append(parts, "")
	case cur.Len() > 0 || len(parts) > 0:
		parts = append(parts, cur.String())
	}
	return parts, nil
}

func parseQueryKey(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}
