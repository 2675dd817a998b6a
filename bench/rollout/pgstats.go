package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// pgStats reads pg_stat_statements of the benchmark's PostgreSQL: reset
// when the roll starts, read when it ends.
type pgStats struct{ conn *pgx.Conn }

func openPGStats(ctx context.Context, url string) (*pgStats, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("pg stats: %w", err)
	}
	if _, err := conn.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("pg stats (start with -pg-stats on a throwaway server): %w", err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_stat_statements_reset()`); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("pg stats: %w", err)
	}
	return &pgStats{conn: conn}, nil
}

// top returns the n statements with the most execution time since the
// reset, one line each: total ms, calls, rows, mean ms, the query's start.
func (p *pgStats) top(ctx context.Context, n int) ([]string, error) {
	rows, err := p.conn.Query(ctx, `SELECT total_exec_time, calls, rows, mean_exec_time, query
		FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT $1`, n)
	if err != nil {
		return nil, fmt.Errorf("pg stats: %w", err)
	}
	var (
		total, mean float64
		calls, nrow int64
		query       string
		out         []string
	)
	_, err = pgx.ForEachRow(rows, []any{&total, &calls, &nrow, &mean, &query}, func() error {
		q := strings.Join(strings.Fields(query), " ")
		if len(q) > 110 {
			q = q[:110] + "…"
		}
		out = append(out, fmt.Sprintf("%9.0f ms %8d calls %9d rows %7.2f ms/call  %s", total, calls, nrow, mean, q))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pg stats: %w", err)
	}
	return out, nil
}

func (p *pgStats) close() { p.conn.Close(context.Background()) }
