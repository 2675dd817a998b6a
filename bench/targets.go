package main

import (
	"time"

	"github.com/rivetkube/rivetkube/bench/internal/benchkit"
)

// Targets of issue 16 for the local engine, each compared with physical
// references measured in the same run (docs/benchmarks.md).
const (
	// readTarget: a read-only action's p50 over HTTP is at most this many
	// loopback HTTP round trips.
	readTarget = 2.0
	// writeSlack: a durable write's p50 over HTTP is at most one fsync p50
	// plus one loopback HTTP p50 plus this.
	writeSlack = 200 * time.Microsecond
	// createTarget: new actors per second (getOrCreate + first action).
	createTarget = 5000.0
	// memTarget: bytes per awake idle actor (heap and goroutine stacks).
	memTarget = 2 << 10
	// idleTarget: awake idle actors in one process.
	idleTarget = 100_000
)

// figures are the p50s and rates the targets are checked against; zero
// means the section did not run.
type figures struct {
	baseHTTP, baseWS, fsync time.Duration
	readHTTP, writeHTTP     time.Duration
	createRate              float64
	mem                     *idleMem
}

// targets returns one line per target whose figures were measured.
func (m figures) targets(o options) []string {
	var out []string
	f := benchkit.FmtDur
	if m.readHTTP > 0 && m.baseHTTP > 0 {
		r := float64(m.readHTTP) / float64(m.baseHTTP)
		out = append(out, target(r <= readTarget, "read-only action p50 over HTTP ≤ %.0f× the loopback HTTP round trip: %.1f× (%s vs %s)",
			readTarget, r, f(m.readHTTP), f(m.baseHTTP)))
	}
	if m.writeHTTP > 0 && m.fsync > 0 && m.baseHTTP > 0 {
		limit := m.fsync + m.baseHTTP + writeSlack
		out = append(out, target(m.writeHTTP <= limit, "durable write p50 over HTTP ≤ fsync p50 + loopback HTTP p50 + 200µs: %s vs %s (fsync %s + loopback %s + 200µs; %.2f× the limit)",
			f(m.writeHTTP), f(limit), f(m.fsync), f(m.baseHTTP), float64(m.writeHTTP)/float64(limit)))
	}
	if m.createRate > 0 && o.want("create") {
		out = append(out, target(m.createRate >= createTarget, "new actors ≥ %.0f/s (getOrCreate + first action, %d concurrent, %d actors): %.0f/s",
			createTarget, o.createConc, o.creates, m.createRate))
	}
	if mm := m.mem; mm != nil {
		per := mm.heap + mm.stack
		out = append(out, target(per <= memTarget, "memory per awake idle actor ≤ 2 KiB: %s (%s heap + %s stacks, %d actors)",
			fmtBytes(per), fmtBytes(mm.heap), fmtBytes(mm.stack), o.idle))
		out = append(out, target(mm.awake >= idleTarget, "%d awake idle actors in one process: %d awake, process RSS %s",
			idleTarget, mm.awake, fmtMiB(mm.rss)))
	}
	return out
}
