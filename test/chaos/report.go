package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/rivetkube/rivetkube/test/chaos/chaosactors"
)

// report is what a run found.
type report struct {
	ops, ok, failed, unknown int
	byKind                   map[string][3]int // ok, failed, unknown
	errors                   map[string]int
	faults                   []FaultRecord
	faultErrs                int
	recovery                 []time.Duration // per fault
	instances, doubles       int
	events                   int
	unread                   int
	lies                     int64
	f                        Findings
}

func analyse(h *History, entries []chaosactors.Entry, events []*eventLog, faults []FaultRecord, start time.Time) *report {
	ops := h.Ops()
	r := &report{byKind: map[string][3]int{}, errors: map[string]int{}, faults: faults}
	acked := map[string]Answerer{}
	for _, o := range ops {
		if o.Final {
			continue
		}
		r.ops++
		k := r.byKind[o.Kind]
		k[o.Outcome]++
		r.byKind[o.Kind] = k
		switch o.Outcome {
		case OK:
			r.ok++
			if o.IsWrite() {
				acked[o.Arg] = Answerer{o.Gen, o.Runner}
			}
		case Failed:
			r.failed++
		case Unknown:
			r.unknown++
		}
		if o.Err != "" {
			r.errors[o.Err]++
		}
		for _, e := range o.Resent {
			r.errors[e+" (then resent)"]++
		}
	}
	CheckLinearizable(ops, &r.f)
	CheckLost(ops, &r.f)
	r.instances, r.doubles = CheckActivations(entries, acked, &r.f)
	r.events = CheckEvents(events, &r.f)
	for _, fr := range faults {
		if fr.Err != "" {
			r.faultErrs++
		}
	}
	r.recovery = recoveries(ops, entries, faults, start)
	return r
}

// recoveries measures, per fault, the time from its start until every
// affected actor served a successful operation again. A runner fault
// affects the actors whose latest activation before it was on that runner;
// other faults affect every actor that served operations. This is an upper
// bound: an actor counts as back only when a worker happens to pick it.
func recoveries(ops []Op, entries []chaosactors.Entry, faults []FaultRecord, start time.Time) []time.Duration {
	sort.Slice(entries, func(i, j int) bool { return entries[i].T < entries[j].T })
	byActor, names := byActor(ops)
	var out []time.Duration
	for _, fr := range faults {
		if fr.Err != "" {
			continue
		}
		affected := names
		if strings.HasPrefix(fr.Kind, "runner-") || strings.HasPrefix(fr.Kind, "link-") {
			at := start.Add(time.Duration(fr.At)).UnixNano()
			runner := strings.Fields(fr.Target)[0]
			last := map[string]string{}
			for _, e := range entries {
				if e.T > at {
					break
				}
				last[e.Actor] = e.Runner
			}
			affected = nil
			for a, rn := range last {
				if strings.HasPrefix(rn, runner+"/") {
					affected = append(affected, a)
				}
			}
		}
		var worst time.Duration
		for _, a := range affected {
			for _, o := range byActor[a] {
				if o.Outcome == OK && o.Call >= fr.At && !o.Final {
					worst = max(worst, time.Duration(o.Return-fr.At))
					break
				}
			}
		}
		if len(affected) > 0 {
			out = append(out, worst)
		}
	}
	return out
}

func (r *report) bad() bool { return r.f.Lost > 0 || r.f.Violations > 0 || r.doubles > 0 }

// exitCode is 1 when a check failed or the run was too small for -min-ops
// or -min-faults (said on stderr, so that the summary stays the last line
// of stdout).
func (r *report) exitCode(cfg config) int {
	small := false
	if r.ops < cfg.minOps {
		fmt.Fprintf(os.Stderr, "chaos: only %d operations ran, -min-ops is %d\n", r.ops, cfg.minOps)
		small = true
	}
	if len(r.faults) < cfg.minFaults {
		fmt.Fprintf(os.Stderr, "chaos: only %d faults were injected, -min-faults is %d\n", len(r.faults), cfg.minFaults)
		small = true
	}
	if r.bad() || small || r.faultErrs > 0 {
		if r.faultErrs > 0 {
			fmt.Fprintf(os.Stderr, "chaos: %d faults could not be injected or healed\n", r.faultErrs)
		}
		return 1
	}
	return 0
}

func (r *report) print(w io.Writer) {
	fmt.Fprintln(w, "== chaos report")
	kinds := make([]string, 0, len(r.byKind))
	for k := range r.byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	fmt.Fprintf(w, "%-10s %8s %8s %8s\n", "op", "ok", "failed", "unknown")
	for _, k := range kinds {
		c := r.byKind[k]
		fmt.Fprintf(w, "%-10s %8d %8d %8d\n", k, c[OK], c[Failed], c[Unknown])
	}
	if r.ops > 0 {
		fmt.Fprintf(w, "availability: %.2f%% of %d operations acknowledged\n", 100*float64(r.ok)/float64(r.ops), r.ops)
	}
	if len(r.errors) > 0 {
		fmt.Fprintln(w, "errors by {group/code}:")
		codes := make([]string, 0, len(r.errors))
		for c := range r.errors {
			codes = append(codes, c)
		}
		sort.Slice(codes, func(i, j int) bool { return r.errors[codes[i]] > r.errors[codes[j]] })
		for _, c := range codes {
			fmt.Fprintf(w, "  %6d %s\n", r.errors[c], c)
		}
	}
	byKind := map[string]int{}
	for _, f := range r.faults {
		byKind[f.Kind]++
	}
	fmt.Fprintf(w, "faults: %d (%d failed to inject or heal)", len(r.faults), r.faultErrs)
	for _, k := range AllFaults {
		if byKind[k] > 0 {
			fmt.Fprintf(w, " %s=%d", k, byKind[k])
		}
	}
	fmt.Fprintln(w)
	if len(r.recovery) > 0 {
		rec := append([]time.Duration(nil), r.recovery...)
		sort.Slice(rec, func(i, j int) bool { return rec[i] < rec[j] })
		fmt.Fprintf(w, "time from a fault to the next success on every affected actor: p50=%v max=%v\n",
			rec[len(rec)/2].Round(time.Millisecond), rec[len(rec)-1].Round(time.Millisecond))
	}
	fmt.Fprintf(w, "linearizability: %d actors ok, %d inconclusive (timed out), %d violations\n", r.f.Linearizable, r.f.Inconclusive, r.f.Violations-r.f.EventIssues)
	fmt.Fprintf(w, "activations: %d instances in the activation log, %d double activations\n", r.instances, r.doubles)
	fmt.Fprintf(w, "events: %d received, %d connections out of order or duplicated\n", r.events, r.f.EventIssues)
	if r.unread > 0 {
		fmt.Fprintf(w, "final reads: %d actors could not be read (not counted as lost)\n", r.unread)
	}
	for _, d := range r.f.Details {
		fmt.Fprintln(w, "  "+d)
	}
	if r.f.VisualDir != "" {
		fmt.Fprintf(w, "violation histories (porcupine visualization): %s\n", r.f.VisualDir)
	}
}

// lastLine prints the summary line; it is always the last line of the run.
func (r *report) lastLine(w io.Writer) {
	fmt.Fprintf(w, "chaos: ops=%d ok=%d faults=%d lost=%d violations=%d double_activations=%d\n",
		r.ops, r.ok, len(r.faults), r.f.Lost, r.f.Violations, r.doubles)
}
