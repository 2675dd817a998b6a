package integration

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/examples/quickstart/actors"
	"github.com/rivetkube/rivetkube/internal/testactors"
)

// TestSQLLeaderboardAcrossRunners drives the quickstart leaderboard (data
// only in c.DB(), pages in PostgreSQL) through two gateways, kills the
// runner hosting it with SIGKILL, and reads every acknowledged score back
// from the runner it fails over to.
func TestSQLLeaderboardAcrossRunners(t *testing.T) {
	c := newCluster(t)
	g0, g1 := c.startGateway(), c.startGateway()
	c.startRunner(1)
	c.startRunner(1)
	c.waitRunners(2)
	ctx := ctxFor(t, 2*time.Minute)
	a, b := c.client(g0, client.EncodingBARE), c.client(g1, client.EncodingJSON)
	key := []string{"sql-board"}
	for i := 0; i < 40; i++ {
		cl := a
		if i%2 == 1 {
			cl = b
		}
		best, err := client.Call[int64](ctx, cl.GetOrCreate("leaderboard", key), "submit", fmt.Sprintf("p%02d", i%20), int64(i))
		if err != nil || best != int64(i) {
			t.Fatalf("submit #%d = %d, %v", i, best, err)
		}
	}
	check := func(cl *client.Client) {
		t.Helper()
		top, err := client.Call[[]actors.Score](ctx, cl.Get("leaderboard", key), "top", 3)
		if err != nil || fmt.Sprint(top) != "[{p19 39} {p18 38} {p17 37}]" {
			t.Fatalf("top(3) = %v, %v", top, err)
		}
		rank, err := client.Call[int64](ctx, cl.Get("leaderboard", key), "rank", "p00")
		if err != nil || rank != 20 {
			t.Fatalf("rank(p00) = %d, %v; want 20", rank, err)
		}
	}
	check(b)

	host := -1
	for _, s := range c.status().Runners {
		for i, r := range c.runners {
			if s.Address == r.addr && s.Actors > 0 {
				host = i
			}
		}
	}
	if host < 0 {
		t.Fatal("no runner hosts the leaderboard")
	}
	c.runners[host].Kill()
	check(a) // waits for the lease, then wakes the actor on the other runner
}

// TestSQLPausedRunnerCannotWritePages freezes a runner while an action has
// written rows to its actor's database but not committed them, lets the
// actor move to another runner and write there, then thaws the frozen
// runner: its commit fails the generation fence, so its rows never appear
// and the database the new instance wrote stays whole.
func TestSQLPausedRunnerCannotWritePages(t *testing.T) {
	c := newCluster(t)
	g := c.startGateway()
	r0 := c.startRunner(1)
	c.waitRunners(1)
	ctx := ctxFor(t, 2*time.Minute)
	cl := c.client(g, client.EncodingBARE)
	h := cl.GetOrCreate("sqlBank", []string{"sql-fence"})
	if _, err := client.Call[int64](ctx, h, "fill", 1, 500); err != nil {
		t.Fatal(err)
	}
	stale := make(chan error, 1)
	go func() {
		_, err := client.Call[int64](ctx, h, "fill", 2, 500, 4000) // holds the actor for 4 s
		stale <- err
	}()
	time.Sleep(time.Second) // the inserts of batch 2 ran; its commit waits for the hold
	r0.Pause()
	c.startRunner(1)
	// Calls wait for the lease to lapse, then reach the new runner. The
	// first may still reach the frozen runner and fail with
	// actor/dropped_reply (as in TestPausedRunnerIsFenced): such a batch
	// is not acknowledged, and the next one gets a new number.
	var acked []int64
	for b := int64(3); len(acked) < 3; b++ {
		_, err := client.Call[int64](ctx, h, "fill", b, 500)
		var ae *client.ActorError
		switch {
		case err == nil:
			acked = append(acked, b)
		case b == 3 && errors.As(err, &ae) && ae.Code == "dropped_reply":
		default:
			t.Fatalf("fill %d after the failover: %v", b, err)
		}
	}
	r0.Resume()
	staleErr := <-stale
	t.Logf("the frozen runner's call ended with: %v", staleErr)
	// Give the thawed instance's commit time to be attempted and fenced,
	// then check what the current instance sees.
	for i := 0; i < 20; i++ {
		if _, err := client.Call[int64](ctx, h, "fill", 100+int64(i), 10); err != nil {
			t.Fatal(err)
		}
	}
	integrity, err := client.Call[string](ctx, h, "integrity")
	if err != nil || integrity != "ok" {
		t.Fatalf("integrity_check = %q, %v", integrity, err)
	}
	batches, err := client.Call[[]testactors.BatchCount](ctx, h, "batches")
	if err != nil {
		t.Fatal(err)
	}
	have := map[int64]int64{}
	for _, b := range batches {
		if b.Rows != 500 && b.Batch < 100 {
			t.Fatalf("batch %d has %d of 500 rows: a torn transaction", b.Batch, b.Rows)
		}
		have[b.Batch] = b.Rows
	}
	for _, b := range append([]int64{1}, acked...) {
		if have[b] != 500 {
			t.Fatalf("acknowledged batch %d has %d rows: %v", b, have[b], batches)
		}
	}
	if n, ok := have[2]; ok && (staleErr != nil || n != 500) {
		t.Fatalf("batch 2 of the frozen runner has %d rows although its call failed (%v): a stale instance wrote pages", n, staleErr)
	}
}

// TestSQLLargeDatabaseWakesLazily fills an actor's database with about
// 100 MB, stops its runner (the actor sleeps), and wakes it on a new runner
// with a point query: only a handful of pages are read from PostgreSQL.
func TestSQLLargeDatabaseWakesLazily(t *testing.T) {
	c := newCluster(t)
	g := c.startGateway()
	r0 := c.startRunner(1)
	c.waitRunners(1)
	ctx := ctxFor(t, 5*time.Minute)
	h := c.client(g, client.EncodingBARE).GetOrCreate("sqlBank", []string{"sql-large"})
	// Batches small enough to commit well within the 5 s action timeout on
	// a loaded machine.
	const batches, rows = 32, 25_000 // ~130 bytes a row stored
	for b := int64(1); b <= batches; b++ {
		if n, err := client.Call[int64](ctx, h, "fill", b, rows); err != nil || n != rows {
			t.Fatalf("fill %d: %d, %v", b, n, err)
		}
	}
	if !r0.Stop(30 * time.Second) {
		t.Fatal("the runner did not stop gracefully")
	}
	c.startRunner(1)
	n, err := client.Call[int64](ctx, h, "row", 17, 12345)
	if err != nil || n != 100 {
		t.Fatalf("point query after the wake: %d, %v", n, err)
	}
	read, err := client.Call[int64](ctx, h, "pagesRead")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, c.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var pages int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM actor_db_pages`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if pages < 18000 || read > 64 {
		t.Fatalf("woke a database of %d stored pages and read %d of them for a point query", pages, read)
	}
	t.Logf("database of %d pages (%d MB) in PostgreSQL: the wake and a point query read %d pages", pages, pages*4096>>20, read)
}
