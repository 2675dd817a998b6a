package main

import (
	"os"
	"strings"
	"testing"

	"github.com/rivetkube/rivetkube/test/chaos/chaosactors"
)

// op builds a hand-made operation; times are in arbitrary units.
func op(worker int, kind, actor string, call, ret int64, outcome Outcome, n int64, s string) Op {
	o := Op{Worker: worker, Kind: kind, Actor: actor, Call: call, Return: ret, Outcome: outcome, Int: n}
	switch kind {
	case KindPut:
		o.Key, o.Arg = "k", s
	case KindGet:
		o.Key, o.Str = "k", s
	}
	return o
}

func TestCheckLinearizable(t *testing.T) {
	t.Parallel()
	const c, r = "counter/c", "register/r"
	tests := []struct {
		name       string
		ops        []Op
		violations int
	}{
		{"counter, sequential", []Op{
			op(0, KindIncr, c, 0, 1, OK, 1, ""),
			op(1, KindIncr, c, 2, 3, OK, 2, ""),
			op(0, KindCountGet, c, 4, 5, OK, 2, ""),
		}, 0},
		{"counter, concurrent increments in either order", []Op{
			op(0, KindIncr, c, 0, 10, OK, 2, ""),
			op(1, KindIncr, c, 1, 9, OK, 1, ""),
		}, 0},
		{"counter, an unknown increment that did apply", []Op{
			op(0, KindIncr, c, 0, 1, Unknown, 0, ""),
			op(1, KindIncr, c, 2, 3, OK, 2, ""),
		}, 0},
		{"counter, an unknown increment that never applied", []Op{
			op(0, KindIncr, c, 0, 1, Unknown, 0, ""),
			op(1, KindIncr, c, 2, 3, OK, 1, ""),
			op(1, KindCountGet, c, 4, 5, OK, 1, ""),
		}, 0},
		{"counter, a failed increment ignored", []Op{
			op(0, KindIncr, c, 0, 1, Failed, 0, ""),
			op(1, KindIncr, c, 2, 3, OK, 1, ""),
		}, 0},
		{"counter, stale read", []Op{
			op(0, KindIncr, c, 0, 1, OK, 1, ""),
			op(0, KindIncr, c, 2, 3, OK, 2, ""),
			op(1, KindCountGet, c, 4, 5, OK, 1, ""),
		}, 1},
		{"counter, one count acknowledged twice", []Op{
			op(0, KindIncr, c, 0, 1, OK, 1, ""),
			op(1, KindIncr, c, 2, 3, OK, 1, ""),
		}, 1},
		{"register, read your write", []Op{
			op(0, KindPut, r, 0, 1, OK, 0, "a"),
			op(1, KindGet, r, 2, 3, OK, 0, "a"),
			op(1, KindPut, r, 4, 6, OK, 0, "b"),
			op(0, KindGet, r, 5, 7, OK, 0, "a"), // concurrent with put b
		}, 0},
		{"register, value from the past", []Op{
			op(0, KindPut, r, 0, 1, OK, 0, "a"),
			op(0, KindPut, r, 2, 3, OK, 0, "b"),
			op(1, KindGet, r, 4, 5, OK, 0, "a"),
		}, 1},
		{"register, value never written", []Op{
			op(1, KindGet, r, 4, 5, OK, 0, "z"),
		}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var f Findings
			CheckLinearizable(tc.ops, &f)
			if f.VisualDir != "" {
				t.Cleanup(func() { os.RemoveAll(f.VisualDir) })
			}
			if f.Violations != tc.violations {
				t.Fatalf("violations = %d, want %d (%v)", f.Violations, tc.violations, f.Details)
			}
			if f.Violations > 0 && f.VisualDir == "" {
				t.Fatal("a violation without a visualization")
			}
		})
	}
}

func TestCheckLost(t *testing.T) {
	t.Parallel()
	const c, r, j = "counter/c", "register/r", "jobs/j"
	final := func(o Op) Op { o.Final = true; return o }
	tests := []struct {
		name string
		ops  []Op
		lost int
	}{
		{"counter complete", []Op{op(0, KindIncr, c, 0, 1, OK, 1, ""), final(op(-1, KindCountGet, c, 5, 6, OK, 1, ""))}, 0},
		{"counter behind an acknowledged increment", []Op{
			op(0, KindIncr, c, 0, 1, OK, 1, ""), op(0, KindIncr, c, 2, 3, OK, 2, ""),
			final(op(-1, KindCountGet, c, 5, 6, OK, 1, "")),
		}, 1},
		{"register holds the last write", []Op{op(0, KindPut, r, 0, 1, OK, 0, "a"), op(0, KindPut, r, 2, 3, OK, 0, "b"), final(op(-1, KindGet, r, 5, 6, OK, 0, "b"))}, 0},
		{"register holds a concurrent write", []Op{op(0, KindPut, r, 0, 4, OK, 0, "a"), op(1, KindPut, r, 1, 3, OK, 0, "b"), final(op(-1, KindGet, r, 5, 6, OK, 0, "a"))}, 0},
		{"register lost the last write", []Op{op(0, KindPut, r, 0, 1, OK, 0, "a"), op(0, KindPut, r, 2, 3, OK, 0, "b"), final(op(-1, KindGet, r, 5, 6, OK, 0, "a"))}, 1},
		{"register empty after a write", []Op{op(0, KindPut, r, 0, 1, OK, 0, "a"), final(op(-1, KindGet, r, 5, 6, OK, 0, ""))}, 1},
		{"register, an unknown write may be missing", []Op{op(0, KindPut, r, 0, 1, Unknown, 0, "a"), final(op(-1, KindGet, r, 5, 6, OK, 0, ""))}, 0},
		{"job completed and done", []Op{{Kind: KindSend, Actor: j, Arg: "w0-1", Call: 0, Return: 1}, {Kind: KindSend, Actor: j, Str: "w0-1\nw0-2", Call: 5, Return: 6, Final: true}}, 0},
		{"job completed but missing", []Op{{Kind: KindSend, Actor: j, Arg: "w0-3", Call: 0, Return: 1}, {Kind: KindSend, Actor: j, Str: "w0-1", Call: 5, Return: 6, Final: true}}, 1},
	}
	for _, tc := range tests {
		var f Findings
		CheckLost(tc.ops, &f)
		if f.Lost != tc.lost {
			t.Errorf("%s: lost = %d, want %d (%v)", tc.name, f.Lost, tc.lost, f.Details)
		}
	}
}

func TestCheckActivations(t *testing.T) {
	t.Parallel()
	e := func(gen uint64, runner, event, op string, t int64) chaosactors.Entry {
		return chaosactors.Entry{Actor: "counter/c", Gen: gen, Runner: runner, Event: event, Op: op, T: t}
	}
	tests := []struct {
		name    string
		entries []chaosactors.Entry
		acked   map[string]Answerer
		doubles int
	}{
		{"clean failover", []chaosactors.Entry{
			e(1, "a", "wake", "", 0), e(1, "a", "act", "w0-1", 1),
			e(2, "b", "wake", "", 5), e(2, "b", "act", "w0-2", 6),
		}, map[string]Answerer{"w0-1": {1, "a"}, "w0-2": {2, "b"}}, 0},
		{"a fenced zombie ran an operation a retry committed elsewhere", []chaosactors.Entry{
			e(1, "a", "wake", "", 0), e(1, "a", "act", "w0-1", 1),
			e(2, "b", "wake", "", 5), e(1, "a", "act", "w0-2", 6), e(2, "b", "act", "w0-2", 7),
		}, map[string]Answerer{"w0-1": {1, "a"}, "w0-2": {2, "b"}}, 0},
		{"an old generation committed after the new one started", []chaosactors.Entry{
			e(1, "a", "wake", "", 0), e(1, "a", "act", "w0-1", 1),
			e(2, "b", "wake", "", 5), e(2, "b", "act", "w0-2", 6), e(1, "a", "act", "w1-1", 7),
		}, map[string]Answerer{"w0-1": {1, "a"}, "w0-2": {2, "b"}, "w1-1": {1, "a"}}, 1},
		{"one generation on two runners", []chaosactors.Entry{
			e(1, "a", "wake", "", 0), e(1, "a", "act", "w0-1", 1),
			e(1, "b", "wake", "", 2), e(1, "b", "act", "w1-1", 3), e(1, "a", "act", "w0-2", 4),
		}, map[string]Answerer{"w0-1": {1, "a"}, "w1-1": {1, "b"}, "w0-2": {1, "a"}}, 1},
	}
	for _, tc := range tests {
		var f Findings
		if _, d := CheckActivations(tc.entries, tc.acked, &f); d != tc.doubles {
			t.Errorf("%s: double activations = %d, want %d (%v)", tc.name, d, tc.doubles, f.Details)
		}
	}
}

func TestCheckEvents(t *testing.T) {
	t.Parallel()
	var f Findings
	CheckEvents([]*eventLog{
		{actor: "counter/a", counts: []int64{1, 2, 5, 9}},
		{actor: "counter/b", counts: []int64{3, 4, 4}},
		{actor: "counter/c", counts: []int64{7, 6}},
	}, &f)
	if f.EventIssues != 2 || f.Violations != 2 {
		t.Fatalf("event issues = %d, violations = %d, want 2 and 2: %v", f.EventIssues, f.Violations, f.Details)
	}
	if !strings.Contains(strings.Join(f.Details, "\n"), "counter/b") {
		t.Fatalf("details do not name the actor: %v", f.Details)
	}
}
