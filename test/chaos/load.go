package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/test/chaos/chaosactors"
)

// opTimeout bounds one operation; past it the outcome is unknown.
const opTimeout = 15 * time.Second

// load drives the workers. Worker w talks to endpoints[w % len] and moves
// to the next endpoint after an error.
type load struct {
	h         *History
	endpoints []string
	encodings []client.Encoding // per endpoint
	actors    int
	seed      uint64

	mu     sync.Mutex
	events []*eventLog
	seq    int
}

func (l *load) counters() int  { return max(1, l.actors) }
func (l *load) registers() int { return max(1, l.actors/2) }
func (l *load) jobs() int      { return max(1, l.actors/4) }

func counterKey(i int) []string  { return []string{fmt.Sprintf("c%d", i)} }
func registerKey(i int) []string { return []string{fmt.Sprintf("r%d", i)} }
func jobsKey(i int) []string     { return []string{fmt.Sprintf("j%d", i)} }

func actorID(name string, key []string) string { return name + "/" + strings.Join(key, "/") }

func (l *load) opID(w int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	return fmt.Sprintf("w%d-%d", w, l.seq)
}

func (l *load) client(i int) *client.Client {
	cl, err := client.New(client.Config{Endpoint: l.endpoints[i], Encoding: l.encodings[i], MaxRetries: 50, RetryInterval: 100 * time.Millisecond})
	if err != nil {
		panic(err) // the configuration is static
	}
	return cl
}

// run starts workers until ctx ends and waits for them.
func (l *load) run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if w%4 == 1 {
				l.wsWorker(ctx, w)
			} else {
				l.httpWorker(ctx, w)
			}
		}()
	}
	wg.Wait()
}

// resendFor bounds how long a write whose outcome is unknown is resent.
const resendFor = 30 * time.Second

// record runs fn as operation o and records it. A write whose outcome is
// unknown is resent (the actors answer a resend of a client's latest
// operation with its recorded result) until the outcome is known or
// resendFor passes; the recorded interval spans every attempt. resend, when
// not nil, replaces fn for the resends (a WebSocket increment is resent
// over HTTP).
func (l *load) record(o Op, fn, resend func(ctx context.Context) (Op, error)) bool {
	call := l.h.now()
	first := time.Now()
	var res Op
	var err error
	maybe := false // an earlier attempt may have applied
	var resent []string
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		f := fn
		if attempt > 0 && resend != nil {
			f = resend
		}
		res, err = f(ctx)
		cancel()
		res.Outcome, res.Err = OK, ""
		if err != nil {
			res.Outcome, res.Err = classify(err)
		}
		if res.Outcome == Unknown {
			maybe = true
		}
		if res.Outcome == Failed && maybe {
			// This attempt did not run, an earlier one may have.
			res.Outcome = Unknown
		}
		if res.Outcome != Unknown || !o.IsWrite() || time.Since(first) > resendFor {
			break
		}
		resent = append(resent, res.Err)
		time.Sleep(100 * time.Millisecond)
	}
	res.Call, res.Return, res.Resent = call, l.h.now(), resent
	l.h.add(res)
	return err == nil
}

// httpWorker mixes counter increments and reads, register puts and gets,
// and queue sends over HTTP.
func (l *load) httpWorker(ctx context.Context, w int) {
	rng := rand.New(rand.NewPCG(l.seed, uint64(w)))
	gw := w % len(l.endpoints)
	cl := l.client(gw)
	for ctx.Err() == nil {
		var ok bool
		switch p := rng.IntN(100); {
		case p < 30:
			key := counterKey(rng.IntN(l.counters()))
			op := Op{Worker: w, Kind: KindIncr, Actor: actorID("counter", key), Arg: l.opID(w)}
			ok = l.record(op, func(ctx context.Context) (Op, error) {
				a, err := client.Call[chaosactors.Ack](ctx, cl.GetOrCreate("counter", key), "increment", op.Arg)
				op.Int, op.Gen, op.Runner = a.Count, a.Gen, a.Runner
				return op, err
			}, nil)
		case p < 40:
			key := counterKey(rng.IntN(l.counters()))
			op := Op{Worker: w, Kind: KindCountGet, Actor: actorID("counter", key)}
			ok = l.record(op, func(ctx context.Context) (Op, error) {
				a, err := client.Call[chaosactors.Ack](ctx, cl.GetOrCreate("counter", key), "get")
				op.Int, op.Gen, op.Runner = a.Count, a.Gen, a.Runner
				return op, err
			}, nil)
		case p < 65:
			key := registerKey(rng.IntN(l.registers()))
			op := Op{Worker: w, Kind: KindPut, Actor: actorID("register", key), Key: fmt.Sprintf("k%d", rng.IntN(3)), Arg: l.opID(w)}
			ok = l.record(op, func(ctx context.Context) (Op, error) {
				a, err := client.Call[chaosactors.Ack](ctx, cl.GetOrCreate("register", key), "put", op.Key, op.Arg, op.Arg)
				op.Gen, op.Runner = a.Gen, a.Runner
				return op, err
			}, nil)
		case p < 90:
			key := registerKey(rng.IntN(l.registers()))
			op := Op{Worker: w, Kind: KindGet, Actor: actorID("register", key), Key: fmt.Sprintf("k%d", rng.IntN(3))}
			ok = l.record(op, func(ctx context.Context) (Op, error) {
				v, err := client.Call[chaosactors.Value](ctx, cl.GetOrCreate("register", key), "get", op.Key)
				op.Str, op.Gen, op.Runner = v.Val, v.Gen, v.Runner
				return op, err
			}, nil)
		default:
			key := jobsKey(rng.IntN(l.jobs()))
			op := Op{Worker: w, Kind: KindSend, Actor: actorID("jobs", key), Arg: l.opID(w)}
			ok = l.record(op, func(ctx context.Context) (Op, error) {
				res, err := cl.GetOrCreate("jobs", key).Send(ctx, "work", op.Arg, client.SendOptions{Wait: true, Timeout: 10 * time.Second})
				if err == nil && !res.Completed {
					err = errNotCompleted
				}
				if err == nil {
					var a chaosactors.Ack
					err = res.Decode(&a)
					op.Gen, op.Runner = a.Gen, a.Runner
				}
				return op, err
			}, nil)
		}
		if !ok {
			gw = (gw + 1) % len(l.endpoints)
			cl = l.client(gw)
			pause(ctx, 50*time.Millisecond)
		}
	}
}

// wsWorker holds a WebSocket connection to one counter at a time, increments
// it over the connection and records the count events it receives.
func (l *load) wsWorker(ctx context.Context, w int) {
	rng := rand.New(rand.NewPCG(l.seed, uint64(w)))
	gw := w % len(l.endpoints)
	for ctx.Err() == nil {
		key := counterKey(rng.IntN(l.counters()))
		actor := actorID("counter", key)
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		conn, err := l.client(gw).GetOrCreate("counter", key).Connect(cctx, client.WithReconnect(100*time.Millisecond, time.Second, 20))
		cancel()
		if err != nil {
			gw = (gw + 1) % len(l.endpoints)
			pause(ctx, 100*time.Millisecond)
			continue
		}
		ev := &eventLog{actor: actor, worker: w}
		var evMu sync.Mutex
		unsub := conn.On(chaosactors.CountEvent, func(args client.RawArgs) {
			var n int64
			if err := args.Decode(0, &n); err == nil {
				evMu.Lock()
				ev.counts = append(ev.counts, n)
				evMu.Unlock()
			}
		})
		// A connection lives for a few dozen operations.
		for i, n := 0, 10+rng.IntN(40); i < n && ctx.Err() == nil; i++ {
			op := Op{Worker: w, Kind: KindIncrWS, Actor: actor, Arg: l.opID(w)}
			if !l.record(op, func(ctx context.Context) (Op, error) {
				a, err := client.Call[chaosactors.Ack](ctx, conn, "increment", op.Arg)
				op.Int, op.Gen, op.Runner = a.Count, a.Gen, a.Runner
				return op, err
			}, func(ctx context.Context) (Op, error) {
				a, err := client.Call[chaosactors.Ack](ctx, l.client(gw).GetOrCreate("counter", key), "increment", op.Arg)
				op.Int, op.Gen, op.Runner = a.Count, a.Gen, a.Runner
				return op, err
			}) {
				break
			}
		}
		unsub()
		_ = conn.Close()
		evMu.Lock()
		l.mu.Lock()
		l.events = append(l.events, ev)
		l.mu.Unlock()
		evMu.Unlock()
	}
}

func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// verify reads the final state of every actor through endpoint, retrying
// each read until it succeeds or the deadline passes; the reads are
// recorded as Final operations.
func (l *load) verify(endpoint string, enc client.Encoding, deadline time.Duration) (failed int) {
	cl, err := client.New(client.Config{Endpoint: endpoint, Encoding: enc, MaxRetries: 50})
	if err != nil {
		panic(err)
	}
	end := time.Now().Add(deadline)
	try := func(o Op, fn func(ctx context.Context) (Op, error)) {
		for {
			if l.record(o, fn, nil) {
				return
			}
			if time.Now().After(end) {
				failed++
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	const w = -1
	for i := 0; i < l.counters(); i++ {
		key := counterKey(i)
		o := Op{Worker: w, Kind: KindCountGet, Actor: actorID("counter", key), Final: true}
		try(o, func(ctx context.Context) (Op, error) {
			a, err := client.Call[chaosactors.Ack](ctx, cl.Get("counter", key), "get")
			o.Int, o.Gen, o.Runner = a.Count, a.Gen, a.Runner
			return o, notFoundOK(err)
		})
	}
	for i := 0; i < l.registers(); i++ {
		key := registerKey(i)
		for k := 0; k < 3; k++ {
			o := Op{Worker: w, Kind: KindGet, Actor: actorID("register", key), Key: fmt.Sprintf("k%d", k), Final: true}
			try(o, func(ctx context.Context) (Op, error) {
				v, err := client.Call[chaosactors.Value](ctx, cl.Get("register", key), "get", o.Key)
				o.Str, o.Gen, o.Runner = v.Val, v.Gen, v.Runner
				return o, notFoundOK(err)
			})
		}
	}
	for i := 0; i < l.jobs(); i++ {
		key := jobsKey(i)
		o := Op{Worker: w, Kind: KindSend, Actor: actorID("jobs", key), Final: true}
		try(o, func(ctx context.Context) (Op, error) {
			ids, err := client.Call[[]string](ctx, cl.Get("jobs", key), "done")
			o.Str = strings.Join(ids, "\n")
			return o, notFoundOK(err)
		})
	}
	return failed
}

// notFoundOK treats an actor that was never created as empty.
func notFoundOK(err error) error {
	if o, code := classify(err); err != nil && o == Failed && code == "actor/not_found" {
		return nil
	}
	return err
}

// closingWrites puts one last value into every register through endpoint
// i, as worker w (the self-test sends them through the liar).
func (l *load) closingWrites(i, w int) {
	cl := l.client(i)
	for r := 0; r < l.registers(); r++ {
		key := registerKey(r)
		op := Op{Worker: w, Kind: KindPut, Actor: actorID("register", key), Key: "k0", Arg: l.opID(w)}
		l.record(op, func(ctx context.Context) (Op, error) {
			a, err := client.Call[chaosactors.Ack](ctx, cl.GetOrCreate("register", key), "put", op.Key, op.Arg, op.Arg)
			op.Gen, op.Runner = a.Gen, a.Runner
			return op, err
		}, nil)
	}
}
