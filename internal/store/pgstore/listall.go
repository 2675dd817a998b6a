package pgstore

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/rivetkube/rivetkube/internal/store"
)

// listAllNames lists the actors of every name in (name, CreatedAt, ID)
// order, keyset paginated on the actors_list index like ListActors.
func (s *Store) listAllNames(ctx context.Context, opts store.ListOptions) ([]store.Actor, string, error) {
	if opts.HasKey {
		return nil, "", fmt.Errorf("list actors: a key filter needs a name: %w", store.ErrInvalid)
	}
	var q strings.Builder
	q.WriteString(`SELECT ` + actorCols + ` FROM actors WHERE namespace = $1`)
	args := []any{opts.Namespace}
	if !opts.IncludeDestroyed {
		q.WriteString(" AND destroyed_at IS NULL")
	}
	if opts.Cursor != "" {
		name, ts, id, err := decodeAllCursor(opts.Cursor)
		if err != nil {
			return nil, "", fmt.Errorf("list actors: %w", err)
		}
		args = append(args, name, ts, id)
		fmt.Fprintf(&q, " AND (name, created_at, id) > ($%d, $%d, $%d)", len(args)-2, len(args)-1, len(args))
	}
	limit := store.ListLimit(opts.Limit)
	args = append(args, limit+1)
	fmt.Fprintf(&q, " ORDER BY name, created_at, id LIMIT $%d", len(args))

	return s.actorPage(ctx, q.String(), args, limit, func(a store.Actor) string { return encodeAllCursor(a.Name, a.CreatedAt, a.ID) })
}

// allCursorTag starts a cursor of the listing across names, so a cursor
// of a listing by name given to it is refused rather than misread.
const allCursorTag = 'n'

// encodeAllCursor: tag, uvarint name length, name, created_at (µs), id.
func encodeAllCursor(name string, createdAt time.Time, id string) string {
	b := []byte{allCursorTag}
	b = binary.AppendUvarint(b, uint64(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint64(b, uint64(createdAt.UnixMicro()))
	return base64.RawURLEncoding.EncodeToString(append(b, id...))
}

func decodeAllCursor(c string) (name string, ts time.Time, id string, err error) {
	bad := fmt.Errorf("bad list cursor: %w", store.ErrInvalid)
	b, derr := base64.RawURLEncoding.DecodeString(c)
	if derr != nil || len(b) < 1 || b[0] != allCursorTag {
		return "", time.Time{}, "", bad
	}
	n, w := binary.Uvarint(b[1:])
	if w <= 0 || n > uint64(len(b)) {
		return "", time.Time{}, "", bad
	}
	rest := b[1+w:]
	if uint64(len(rest)) < n+9 {
		return "", time.Time{}, "", bad
	}
	name, rest = string(rest[:n]), rest[n:]
	return name, time.UnixMicro(int64(binary.BigEndian.Uint64(rest))), string(rest[8:]), nil
}
