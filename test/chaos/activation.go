package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/rivetkube/rivetkube/test/chaos/chaosactors"
)

// Answerer is the instance that answered an operation.
type Answerer struct {
	Gen    uint64
	Runner string
}

// instance is one activation of an actor as the activation log shows it.
type instance struct {
	actor, runner string
	gen           uint64
	start         int64 // wake, or the first logged action
	lastCommitted int64 // the last action whose operation was acknowledged
	committed     bool
}

// readActivationLogs reads every *.log file in dir.
func readActivationLogs(dir string) ([]chaosactors.Entry, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return nil, err
	}
	var out []chaosactors.Entry
	for _, name := range files {
		fh, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			var e chaosactors.Entry
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				continue // a torn last line of a killed process
			}
			out = append(out, e)
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
	}
	return out, nil
}

// CheckActivations finds double activations: two instances of one actor,
// each with at least one acknowledged (hence committed) write, whose
// intervals [start, last committed write] overlap. An older instance that
// commits after a newer one started is exactly what generation fencing
// forbids, and so are two instances of one generation on two runners.
// acked maps the operation id of each acknowledged write to the instance
// (generation, runner) that answered it: an operation that a stale
// instance ran (and failed to commit) before a retry reached the live one
// counts only for the live one.
func CheckActivations(entries []chaosactors.Entry, acked map[string]Answerer, f *Findings) (instances, doubles int) {
	type id struct {
		actor  string
		gen    uint64
		runner string
	}
	m := map[id]*instance{}
	for _, e := range entries {
		k := id{e.Actor, e.Gen, e.Runner}
		in := m[k]
		if in == nil {
			in = &instance{actor: e.Actor, gen: e.Gen, runner: e.Runner, start: e.T}
			m[k] = in
		}
		if e.Event == "wake" || e.T < in.start {
			in.start = min(in.start, e.T)
		}
		if a, ok := acked[e.Op]; e.Event == "act" && ok && a == (Answerer{e.Gen, e.Runner}) {
			in.committed = true
			in.lastCommitted = max(in.lastCommitted, e.T)
		}
	}
	per := map[string][]*instance{}
	for _, in := range m {
		per[in.actor] = append(per[in.actor], in)
	}
	for actor, ins := range per {
		sort.Slice(ins, func(i, j int) bool { return ins[i].start < ins[j].start })
		for i, a := range ins {
			if !a.committed {
				continue
			}
			for _, b := range ins[i+1:] {
				if b.committed && b.start < a.lastCommitted {
					doubles++
					f.detail("actor %s: DOUBLE ACTIVATION: generation %d on %s committed until %d, generation %d on %s started at %d",
						actor, a.gen, a.runner, a.lastCommitted, b.gen, b.runner, b.start)
				}
			}
		}
	}
	return len(m), doubles
}

// eventLog is what one client connection received: counts in arrival order.
type eventLog struct {
	actor  string
	worker int
	counts []int64
}

// CheckEvents requires each connection's counts to increase strictly: a
// repeat is a duplicate, a decrease is out of commit order.
func CheckEvents(logs []*eventLog, f *Findings) (events int) {
	for _, l := range logs {
		events += len(l.counts)
		for i := 1; i < len(l.counts); i++ {
			if l.counts[i] <= l.counts[i-1] {
				f.EventIssues++
				f.detail("actor %s, connection of worker %d: event %d after %d (duplicate or out of order)", l.actor, l.worker, l.counts[i], l.counts[i-1])
				break
			}
		}
	}
	f.Violations += f.EventIssues
	return events
}
