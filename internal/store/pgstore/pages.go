package pgstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/rivetkube/rivetkube/internal/store"
)

// Page numbers are stored as PostgreSQL integer (int4): positive page
// numbers up to 2^31-1, far above what any size limit allows.

// queueDBWrite adds the statements of a checked write's Write.DB to b:
// the truncation, then one upsert of every page (the last entry for a
// page number wins, since one INSERT may not touch a row twice).
func queueDBWrite(b *pgx.Batch, w store.Write) {
	d := w.DB
	if d == nil {
		return
	}
	if d.Truncate {
		b.Queue(`DELETE FROM actor_db_pages WHERE actor_id = $1 AND page_no > $2`, w.ActorID, int64(d.TruncateTo))
	}
	if len(d.Pages) == 0 {
		return
	}
	idx := make(map[uint32]int, len(d.Pages))
	nos := make([]int32, 0, len(d.Pages))
	data := make([][]byte, 0, len(d.Pages))
	for _, p := range d.Pages {
		if i, ok := idx[p.No]; ok {
			data[i] = p.Data
			continue
		}
		idx[p.No] = len(nos)
		nos = append(nos, int32(p.No))
		data = append(data, p.Data)
	}
	b.Queue(`INSERT INTO actor_db_pages (actor_id, page_no, data)
		SELECT $1, n, d FROM unnest($2::integer[], $3::bytea[]) AS t(n, d)
		ON CONFLICT (actor_id, page_no) DO UPDATE SET data = excluded.data`, w.ActorID, nos, data)
}

// ReadDBPages reads stored pages of an actor's SQL database in one round
// trip: the pages of the range and the highest page number.
func (s *Store) ReadDBPages(ctx context.Context, id string, from, to uint32) ([]store.DBPage, uint32, error) {
	to, err := store.ValidatePageRange(id, from, to)
	if err != nil {
		return nil, 0, err
	}
	if err := s.begin(ctx); err != nil {
		return nil, 0, err
	}
	defer s.end()
	// The first row carries the highest page number (page NULL); a missing
	// actor returns no row at all.
	rows, err := s.pool.Query(ctx, `SELECT NULL::integer, (SELECT coalesce(max(page_no), 0) FROM actor_db_pages WHERE actor_id = $1), NULL::bytea
			FROM actors WHERE id = $1
		UNION ALL
		(SELECT page_no, 0, data FROM actor_db_pages
			WHERE actor_id = $1 AND page_no >= $2 AND page_no < $3 ORDER BY page_no)`,
		id, int64(from), int64(to))
	if err != nil {
		return nil, 0, fmt.Errorf("read db pages: %w", err)
	}
	defer rows.Close()
	var (
		out   []store.DBPage
		count uint32
		found bool
	)
	for rows.Next() {
		var (
			no   *int32
			max  int64
			data []byte
		)
		if err := rows.Scan(&no, &max, &data); err != nil {
			return nil, 0, fmt.Errorf("read db pages: %w", err)
		}
		if no == nil {
			found, count = true, uint32(max)
			continue
		}
		out = append(out, store.DBPage{No: uint32(*no), Data: data})
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("read db pages: %w", err)
	}
	slices.SortFunc(out, func(a, b store.DBPage) int { return int(a.No) - int(b.No) })
	if !found {
		return nil, 0, fmt.Errorf("read db pages: actor %s: %w", id, store.ErrNotFound)
	}
	return out, count, nil
}
