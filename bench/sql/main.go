// Command sql measures c.DB(), the per-actor SQLite database whose pages
// live in the store, against the same SQLite library (ncruces/go-sqlite3)
// on a local file in WAL mode with synchronous=FULL, in the same run:
//
//   - point query: one SELECT by primary key, timed inside the actor (the
//     database is warm) and on the native file, both preparing the
//     statement each time;
//   - insert of 1,000 rows in one transaction: the actor's action called
//     over HTTP (so it includes the fsynced commit to the embedded store
//     before the reply) against BEGIN; 1,000 INSERTs; COMMIT on the file;
//   - wake: the first point query after an engine restart, for an actor
//     with a small database and one with a large one (-wake-mb).
//
// It is a measurement, not a test: it never fails on a figure.
//
//	go run ./bench/sql
//	go run ./bench/sql -wake-mb 100 -lat 5s
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/rivetkube/rivetkube/bench/internal/benchkit"
	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/rivet"
)

type options struct {
	lat, warmup time.Duration
	rows        int // rows of the point-query table
	wakeMB      int
	wakeRounds  int
	dataDir     string
}

// The row layout of both databases: an integer key and a 100-byte value.
const (
	schema   = `CREATE TABLE kv (k INTEGER PRIMARY KEY, v BLOB NOT NULL)`
	pointSQL = `SELECT v FROM kv WHERE k = ?`
	valSize  = 100
)

func main() {
	var o options
	flag.DurationVar(&o.lat, "lat", 3*time.Second, "duration of each latency measurement")
	flag.DurationVar(&o.warmup, "warmup", 300*time.Millisecond, "warm-up before each measurement (not recorded)")
	flag.IntVar(&o.rows, "rows", 100_000, "rows in the point-query table")
	flag.IntVar(&o.wakeMB, "wake-mb", 100, "database size of the large actor woken in the wake measurement (0: skip)")
	flag.IntVar(&o.wakeRounds, "wake-rounds", 7, "engine restarts in the wake measurement")
	flag.StringVar(&o.dataDir, "data-dir", "", "data directory (default: a new temporary directory, removed after)")
	flag.Parse()
	if err := run(o); err != nil {
		benchkit.Fatal("bench/sql", err)
	}
}

func run(o options) error {
	ctx := context.Background()
	dir := o.dataDir
	if dir == "" {
		d, err := os.MkdirTemp("", "rivetkube-bench-sql-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	fmt.Fprintf(os.Stderr, "running (data dir %s) ...\n", dir)
	t := benchkit.Table{Progress: os.Stderr, NameWidth: 56, ValueWidth: 10}

	native, err := openNative(filepath.Join(dir, "native.db"))
	if err != nil {
		return err
	}
	defer native.Close()
	if err := fillNative(native, o.rows); err != nil {
		return err
	}

	eng, cl, err := startEngine(ctx, dir)
	if err != nil {
		return err
	}
	defer func() { eng.Close() }()
	h := cl.GetOrCreate("sqlbench", []string{"main"})
	for from := 1; from <= o.rows; from += 10_000 {
		if err := h.Action(ctx, "fill", nil, from, min(10_000, o.rows-from+1)); err != nil {
			return fmt.Errorf("fill actor: %w", err)
		}
	}

	// Point query: in-actor timings against the native file.
	var inActor []int64
	var actorS benchkit.Samples
	for end := time.Now().Add(o.warmup + o.lat); time.Now().Before(end); {
		if err := h.Action(ctx, "pointTimes", &inActor, 2000, o.rows); err != nil {
			return fmt.Errorf("point queries: %w", err)
		}
		for _, ns := range inActor {
			actorS.Add(time.Duration(ns))
		}
	}
	nativeS, err := benchkit.Sequential(o.warmup, o.lat, 3, benchkit.CPUMeter{}, func() error {
		return pointNative(native, 1+rand.IntN(o.rows))
	})
	if err != nil {
		return err
	}
	t.AddSamples("point query, native file (WAL, synchronous=FULL)", nativeS[0], fmt.Sprintf("%d queries", nativeS[0].N()))
	t.AddSamples("point query inside an awake actor (c.DB())", &actorS, fmt.Sprintf("%d queries, %.2f× native", actorS.N(), ratio(actorS.P(50), nativeS[0].P(50))))

	// Point query end to end, for scale: an action that runs one.
	e2e, err := benchkit.Sequential(o.warmup, o.lat, 3, benchkit.CPUMeter{}, func() error {
		return h.Action(ctx, "point", nil, 1+rand.IntN(o.rows))
	})
	if err != nil {
		return err
	}
	t.AddSamples("action running one point query, over HTTP", e2e[0], "includes the HTTP round trip")

	// 1,000-row insert in one transaction.
	var next int64 = int64(o.rows) + 1
	ins, err := benchkit.Sequential(o.warmup, o.lat, 3, benchkit.CPUMeter{}, func() error {
		base := next
		next += 1000
		return insertNative(native, base)
	}, func() error {
		base := next
		next += 1000
		return h.Action(ctx, "insert1000", nil, base)
	})
	if err != nil {
		return err
	}
	t.AddSamples("insert 1,000 rows in one transaction, native file", ins[0], fmt.Sprintf("%d transactions", ins[0].N()))
	t.AddSamples("insert 1,000 rows in one action (durable reply)", ins[1], fmt.Sprintf("%d actions, %.2f× native, includes HTTP", ins[1].N(), ratio(ins[1].P(50), ins[0].P(50))))

	if o.wakeMB > 0 {
		small := cl.GetOrCreate("sqlbench", []string{"small"})
		large := cl.GetOrCreate("sqlbench", []string{"large"})
		if err := small.Action(ctx, "fill", nil, 1, 1000); err != nil {
			return err
		}
		rows := o.wakeMB << 20 / (valSize + 12) // about 112 bytes a row on disk
		fmt.Fprintf(os.Stderr, "  filling a %d MB actor database (%d rows) ...\n", o.wakeMB, rows)
		for from := 1; from <= rows; from += 20_000 {
			if err := large.Action(ctx, "fill", nil, from, min(20_000, rows-from+1)); err != nil {
				return fmt.Errorf("fill large actor: %w", err)
			}
		}
		var size int64
		if err := large.Action(ctx, "size", &size); err != nil {
			return err
		}
		var wakes [2]benchkit.Samples
		var pages [2]int64
		for round := range o.wakeRounds {
			eng.Close()
			if eng, cl, err = startEngine(ctx, dir); err != nil {
				return err
			}
			actors := []struct {
				key  string
				rows int
			}{{"small", 1000}, {"large", rows}}
			for j := range actors {
				i := (j + round) % 2 // alternate which wakes first
				a := actors[i]
				start := time.Now()
				if err := cl.GetOrCreate("sqlbench", []string{a.key}).Action(ctx, "wakeQuery", &pages[i], 1+rand.IntN(a.rows)); err != nil {
					return err
				}
				wakes[i].Add(time.Since(start))
			}
		}
		for i, name := range []string{"small (1,000 rows)", fmt.Sprintf("large (%d MB)", size>>20)} {
			t.AddSamples("wake + first point query, "+name+" database", &wakes[i],
				fmt.Sprintf("%d engine restarts; %d pages read", wakes[i].N(), pages[i]))
		}
	}
	t.Targets = append(t.Targets,
		"point query inside an awake actor ≤ 2× the native file",
		"1,000-row insert ≤ 2× native with fsync",
		"wake independent of the database size")
	fmt.Println()
	t.Print(os.Stdout)
	return nil
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func startEngine(ctx context.Context, dir string) (*rivet.LocalEngine, *client.Client, error) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := rivet.NewRegistry().Register(benchActor).StartLocal(ctx, rivet.EngineConfig{
		Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "engine"), Log: log,
		Limits: rivet.Limits{SleepTimeout: time.Hour, ActionTimeout: 5 * time.Minute},
	})
	if err != nil {
		return nil, nil, err
	}
	cl, err := client.New(client.Config{Endpoint: eng.Endpoint(), Encoding: client.EncodingCBOR, HTTPClient: benchkit.KeepAliveClient()})
	if err != nil {
		eng.Close()
		return nil, nil, err
	}
	return eng, cl, nil
}

// benchActor runs the actor side of the measurements.
var benchActor = rivet.New("sqlbench", rivet.Options[struct{}]{Migrate: []string{schema}}).
	Action("fill", func(c *rivet.Ctx[struct{}], from, n int) error {
		_, err := c.DB().Exec(`INSERT INTO kv (k, v) SELECT value, randomblob(?) FROM generate_series(?, ?)`, valSize, from, from+n-1)
		return err
	}).
	Action("pointTimes", func(c *rivet.Ctx[struct{}], n, rows int) ([]int64, error) {
		out := make([]int64, n)
		var v []byte
		for i := range out {
			start := time.Now()
			if err := c.DB().QueryRow(pointSQL, 1+rand.IntN(rows)).Scan(&v); err != nil {
				return nil, err
			}
			out[i] = int64(time.Since(start))
		}
		return out, nil
	}).
	Action("point", func(c *rivet.Ctx[struct{}], k int) ([]byte, error) {
		var v []byte
		err := c.DB().QueryRow(pointSQL, k).Scan(&v)
		return v, err
	}).
	Action("wakeQuery", func(c *rivet.Ctx[struct{}], k int) (int64, error) {
		var v []byte
		if err := c.DB().QueryRow(pointSQL, k).Scan(&v); err != nil {
			return 0, err
		}
		return c.DB().Stats().PagesRead, nil
	}).
	Action("insert1000", func(c *rivet.Ctx[struct{}], base int64) error {
		return c.DB().Tx(func(tx *rivet.DB) error {
			for i := range int64(1000) {
				if _, err := tx.Exec(`INSERT INTO kv (k, v) VALUES (?, ?)`, base+i, make([]byte, valSize)); err != nil {
					return err
				}
			}
			return nil
		})
	}).
	Action("size", func(c *rivet.Ctx[struct{}]) (int64, error) {
		var n int64
		err := c.DB().QueryRow(`SELECT page_count * page_size FROM pragma_page_count, pragma_page_size`).Scan(&n)
		return n, err
	})

func openNative(path string) (*sqlite3.Conn, error) {
	c, err := sqlite3.Open(path)
	if err != nil {
		return nil, err
	}
	if err := c.Exec(`PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; ` + schema); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func fillNative(c *sqlite3.Conn, rows int) error {
	st, _, err := c.Prepare(`INSERT INTO kv (k, v) SELECT value, randomblob(?) FROM generate_series(1, ?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.BindInt(1, valSize); err != nil {
		return err
	}
	if err := st.BindInt(2, rows); err != nil {
		return err
	}
	return st.Exec()
}

func pointNative(c *sqlite3.Conn, k int) error {
	st, _, err := c.Prepare(pointSQL)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.BindInt(1, k); err != nil {
		return err
	}
	if !st.Step() {
		return fmt.Errorf("key %d: no row: %w", k, st.Err())
	}
	_ = st.ColumnBlob(0, nil)
	return st.Err()
}

func insertNative(c *sqlite3.Conn, base int64) error {
	if err := c.Exec("BEGIN"); err != nil {
		return err
	}
	val := make([]byte, valSize)
	for i := range int64(1000) {
		st, _, err := c.Prepare(`INSERT INTO kv (k, v) VALUES (?, ?)`)
		if err != nil {
			return err
		}
		err = st.BindInt64(1, base+i)
		if err == nil {
			err = st.BindBlob(2, val)
		}
		if err == nil {
			err = st.Exec()
		}
		st.Close()
		if err != nil {
			_ = c.Exec("ROLLBACK")
			return err
		}
	}
	return c.Exec("COMMIT")
}
