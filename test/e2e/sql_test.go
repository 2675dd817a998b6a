package e2e

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type score struct {
	Player string `json:"player"`
	Score  int64  `json:"score"`
}

// TestLeaderboard drives the quickstart leaderboard (data only in c.DB())
// over HTTP, then checks it survives a graceful restart and a kill -9.
func TestLeaderboard(t *testing.T) {
	addr, dir := freeAddr(t), t.TempDir()
	p := startEngineAt(t, addr, dir)
	c := &http.Client{Timeout: 10 * time.Second}
	key := fmt.Sprintf("lb-%d", time.Now().UnixNano())
	call := func(p *engineProc, action string, out any, args ...any) {
		t.Helper()
		if _, err := jsonAction(c, p.Endpoint, "leaderboard", key, action, out, args...); err != nil {
			t.Fatalf("%s%v: %v", action, args, err)
		}
	}
	for _, s := range []struct {
		player     string
		score, out int64
	}{
		{"carol", 50, 50}, {"alice", 70, 70}, {"bob", 70, 70}, {"alice", 10, 70}, {"dave", 20, 20}, {"dave", 60, 60},
	} {
		var best int64
		call(p, "submit", &best, s.player, s.score)
		if best != s.out {
			t.Fatalf("submit(%s, %d) = %d, want %d", s.player, s.score, best, s.out)
		}
	}
	want := []score{{"alice", 70}, {"bob", 70}, {"dave", 60}}
	ranks := map[string]int64{"alice": 1, "bob": 1, "dave": 3, "carol": 4, "nobody": 0}
	check := func(p *engineProc) {
		t.Helper()
		var top []score
		call(p, "top", &top, 3)
		if fmt.Sprint(top) != fmt.Sprint(want) {
			t.Fatalf("top(3) = %v, want %v", top, want)
		}
		for player, want := range ranks {
			var rank int64
			call(p, "rank", &rank, player)
			if rank != want {
				t.Fatalf("rank(%s) = %d, want %d", player, rank, want)
			}
		}
	}
	check(p)

	p.stop()
	p = startEngineAt(t, addr, dir)
	check(p)
	var best int64
	call(p, "submit", &best, "erin", 99) // acknowledged: must survive the kill
	want = append([]score{{"erin", 99}}, want[:2]...)
	ranks = map[string]int64{"erin": 1, "alice": 2, "bob": 2, "dave": 4, "carol": 5, "nobody": 0}
	p.kill()
	p = startEngineAt(t, addr, dir)
	check(p)
}

type batchCount struct {
	Batch int64 `json:"batch"`
	Rows  int64 `json:"rows"`
}

// TestSQLKill9AllOrNothing fills an actor's database with batches of rows,
// one batch per action, kills the engine with SIGKILL mid-load, restarts it
// and checks that every batch holds all its rows or none, and every
// acknowledged batch all of them.
func TestSQLKill9AllOrNothing(t *testing.T) {
	addr, dir := freeAddr(t), t.TempDir()
	p := startEngineAt(t, addr, dir)
	c := &http.Client{Timeout: 10 * time.Second}
	const rowsPerBatch, actors = 3000, 4
	var (
		next  atomic.Int64
		mu    sync.Mutex
		acked = map[int][]int64{} // actor → acknowledged batches
		stop  atomic.Bool
		wg    sync.WaitGroup
		okN   atomic.Int64
	)
	for w := 0; w < 2*actors; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for !stop.Load() {
				b := next.Add(1)
				key := fmt.Sprintf("bank-%d", w%actors)
				var n int64
				if _, err := jsonAction(c, p.Endpoint, "sqlBank", key, "fill", &n, b, rowsPerBatch); err == nil && n == rowsPerBatch {
					mu.Lock()
					acked[w%actors] = append(acked[w%actors], b)
					mu.Unlock()
					okN.Add(1)
				}
			}
		}(w)
	}
	deadline := time.Now().Add(20 * time.Second)
	for okN.Load() < 20 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	p.kill() // with fills in flight
	stop.Store(true)
	wg.Wait()
	if okN.Load() == 0 {
		t.Fatal("no fill was acknowledged before the kill")
	}

	p = startEngineAt(t, addr, dir)
	seen := 0
	for a := 0; a < actors; a++ {
		key := fmt.Sprintf("bank-%d", a)
		var integrity string
		if _, err := jsonAction(c, p.Endpoint, "sqlBank", key, "integrity", &integrity); err != nil || integrity != "ok" {
			t.Fatalf("%s integrity_check = %q, %v", key, integrity, err)
		}
		var batches []batchCount
		if _, err := jsonAction(c, p.Endpoint, "sqlBank", key, "batches", &batches); err != nil {
			t.Fatal(err)
		}
		have := map[int64]bool{}
		for _, b := range batches {
			if b.Rows != rowsPerBatch {
				t.Fatalf("%s batch %d has %d of %d rows: a torn transaction", key, b.Batch, b.Rows, rowsPerBatch)
			}
			have[b.Batch] = true
		}
		for _, b := range acked[a] {
			seen++
			if !have[b] {
				t.Errorf("%s: acknowledged batch %d is missing after the kill", key, b)
			}
		}
	}
	if seen != int(okN.Load()) {
		t.Fatalf("checked %d acknowledged batches of %d", seen, okN.Load())
	}
	t.Logf("%d batches acknowledged before the kill, all present and whole", seen)
}
