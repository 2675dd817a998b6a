package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// checkTimeout bounds porcupine's search for one actor (-check-timeout); a
// search that runs out is reported as inconclusive, never as a violation.
var checkTimeout = 60 * time.Second

// Findings are the results of the checks.
type Findings struct {
	Lost         int
	Violations   int // linearizability violations (actors) + event order violations
	Linearizable int // actors checked Ok
	Inconclusive int // actors whose check timed out
	EventIssues  int
	Details      []string
	VisualDir    string // where violation visualizations were written
}

func (f *Findings) detail(format string, args ...any) {
	if len(f.Details) < 50 {
		f.Details = append(f.Details, fmt.Sprintf(format, args...))
	}
}

// porcupineOps turns an actor's recorded operations into porcupine
// operations: failed ones are dropped (they did not happen), unknown
// writes return after everything else (they may take effect at any point
// after their call, or never), unknown reads are dropped (they change
// nothing).
func porcupineOps(ops []Op, end int64) []porcupine.Operation {
	verifier := 0 // the verification reads get the client id after the workers'
	for _, o := range ops {
		verifier = max(verifier, o.Worker+1)
	}
	var out []porcupine.Operation
	for _, o := range ops {
		if o.Outcome == Failed || (o.Outcome == Unknown && !o.IsWrite()) {
			continue
		}
		p := porcupine.Operation{ClientId: o.Worker, Call: o.Call, Return: o.Return}
		if o.Worker < 0 {
			p.ClientId = verifier
		}
		res := result{Int: o.Int, Str: o.Str}
		if o.Outcome == Unknown {
			res.Unknown = true
			p.Return = end
		}
		switch o.Kind {
		case KindIncr, KindIncrWS:
			p.Input = counterIn{Incr: true, Op: o.Arg}
		case KindCountGet:
			p.Input = counterIn{}
		case KindPut:
			p.Input = registerIn{Put: true, Key: o.Key, Val: o.Arg}
		case KindGet:
			p.Input = registerIn{Key: o.Key}
		default:
			continue
		}
		p.Output = res
		out = append(out, p)
	}
	return out
}

// byActor groups operations by actor.
func byActor(ops []Op) (map[string][]Op, []string) {
	m := map[string][]Op{}
	for _, o := range ops {
		m[o.Actor] = append(m[o.Actor], o)
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return m, names
}

// CheckLinearizable runs porcupine on every counter and register, two at a
// time, and writes a visualization of each violation under a temp dir.
func CheckLinearizable(ops []Op, f *Findings) {
	end := int64(0)
	for _, o := range ops {
		end = max(end, o.Return+1)
	}
	end += int64(time.Hour)
	groups, names := byActor(ops)
	type res struct {
		actor string
		r     porcupine.CheckResult
		info  porcupine.LinearizationInfo
		model porcupine.Model
	}
	results := make([]res, len(names))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for i, a := range names {
		model := counterModel
		if strings.HasPrefix(a, "register/") {
			model = registerModel
		} else if !strings.HasPrefix(a, "counter/") {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			r, info := porcupine.CheckOperationsVerbose(model, porcupineOps(groups[a], end), checkTimeout)
			results[i] = res{actor: a, r: r, info: info, model: model}
		}()
	}
	wg.Wait()
	for _, r := range results {
		switch r.r {
		case porcupine.Ok:
			f.Linearizable++
		case porcupine.Unknown:
			f.Inconclusive++
			f.detail("actor %s: linearizability check timed out after %v (inconclusive)", r.actor, checkTimeout)
		case porcupine.Illegal:
			f.Violations++
			if f.VisualDir == "" {
				f.VisualDir, _ = os.MkdirTemp("", "rivetkube-chaos-violations-")
			}
			base := filepath.Join(f.VisualDir, strings.ReplaceAll(r.actor, "/", "_"))
			writeOps(base+".jsonl", groups[r.actor])
			path := base + ".html"
			if err := porcupine.VisualizePath(r.model, r.info, path); err != nil {
				f.detail("actor %s: NOT LINEARIZABLE (visualization failed: %v)", r.actor, err)
			} else {
				f.detail("actor %s: NOT LINEARIZABLE, history: %s", r.actor, path)
			}
		}
	}
}

// writeOps writes an actor's recorded operations, one JSON object a line.
func writeOps(path string, ops []Op) {
	var b strings.Builder
	for _, o := range ops {
		j, _ := json.Marshal(o)
		b.Write(j)
		b.WriteByte('\n')
	}
	_ = os.WriteFile(path, []byte(b.String()), 0o644)
}

// CheckLost compares every verification read (Final) with the writes
// acknowledged before it was sent: a counter must count at least as many
// increments as the highest acknowledged count, a register must not hold a
// value older than an acknowledged write that started after that value's
// write returned, and a job acknowledged as completed must be in its
// actor's done list (reads of kind "done" are recorded as Final gets whose
// Str holds the ids, one per line).
func CheckLost(ops []Op, f *Findings) {
	groups, names := byActor(ops)
	for _, a := range names {
		g := groups[a]
		for _, v := range g {
			if !v.Final || v.Outcome != OK {
				continue
			}
			switch v.Kind {
			case KindCountGet:
				n := 0
				for _, w := range g {
					if (w.Kind == KindIncr || w.Kind == KindIncrWS) && w.Outcome == OK && w.Return < v.Call && w.Int > v.Int {
						n++
					}
				}
				if n > 0 {
					f.Lost += n
					f.detail("actor %s: read %d at %v, but %d increments acknowledged before returned higher counts", a, v.Int, time.Duration(v.Call), n)
				}
			case KindGet:
				// The write whose value was read (values are unique).
				holder := int64(-1)
				if v.Str != "" {
					holder = int64(1) << 62
					for _, w := range g {
						if w.Kind == KindPut && w.Key == v.Key && w.Arg == v.Str {
							holder = w.Return
							if w.Outcome == Unknown {
								holder = v.Call // it may have landed any time before the read
							}
						}
					}
				}
				for _, w := range g {
					if w.Kind == KindPut && w.Key == v.Key && w.Outcome == OK && w.Return < v.Call && w.Call > holder {
						f.Lost++
						f.detail("actor %s key %s: read %q at %v, but put %q acknowledged at %v after that value was written", a, v.Key, v.Str, time.Duration(v.Call), w.Arg, time.Duration(w.Return))
						break
					}
				}
			case KindSend:
				done := map[string]bool{}
				for _, id := range strings.Split(v.Str, "\n") {
					done[id] = true
				}
				for _, w := range g {
					if w.Kind == KindSend && !w.Final && w.Outcome == OK && w.Return < v.Call && !done[w.Arg] {
						f.Lost++
						f.detail("actor %s: job %s completed at %v is not in the done list", a, w.Arg, time.Duration(w.Return))
					}
				}
			}
		}
	}
}
