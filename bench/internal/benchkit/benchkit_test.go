package benchkit

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentiles(t *testing.T) {
	var s Samples
	if got := s.P(50); got != 0 {
		t.Fatalf("P(50) of no samples = %v, want 0", got)
	}
	// 1..100 ms, added in reverse so P has to sort.
	for i := 100; i >= 1; i-- {
		s.Add(time.Duration(i) * time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{
		{0, 1 * time.Millisecond},
		{50, 50 * time.Millisecond},   // index 99*50/100 = 49.5, rounded down
		{99, 99 * time.Millisecond},   // index 98.01
		{100, 100 * time.Millisecond}, // the largest
	} {
		if got := s.P(c.q); got != c.want {
			t.Errorf("P(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if s.N() != 100 {
		t.Errorf("N = %d, want 100", s.N())
	}
	// A sample added after a percentile was taken is sorted in again.
	s.Add(0)
	if got := s.P(0); got != 0 {
		t.Errorf("P(0) after Add(0) = %v, want 0", got)
	}
}

func TestPercentileOneSample(t *testing.T) {
	var s Samples
	s.Add(7 * time.Microsecond)
	for _, q := range []float64{0, 50, 99, 100} {
		if got := s.P(q); got != 7*time.Microsecond {
			t.Errorf("P(%v) = %v, want 7µs", q, got)
		}
	}
}

func TestFmtDur(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, ""},
		{1, "0µs"},
		{1500 * time.Nanosecond, "2µs"},
		{999 * time.Microsecond, "999µs"},
		{time.Millisecond, "1.00ms"},
		{1234567 * time.Nanosecond, "1.23ms"},
		{999 * time.Millisecond, "999.00ms"},
		{time.Second, "1.00s"},
		{90 * time.Second, "90.00s"},
	} {
		if got := FmtDur(c.d); got != c.want {
			t.Errorf("FmtDur(%d) = %q, want %q", c.d, got, c.want)
		}
	}
}

func TestTable(t *testing.T) {
	var progress, out bytes.Buffer
	tb := Table{Progress: &progress, NameWidth: 48, ValueWidth: 10}
	var s Samples
	s.Add(2 * time.Millisecond)
	tb.AddSamples("lat", &s, "n=1")
	tb.Add("a longer name", "", "", "1 op/s")
	// The progress lines are what bench printed with its own format.
	want := fmt.Sprintf("  %-48s %10s %10s  %s\n", "lat", "2.00ms", "2.00ms", "n=1") +
		fmt.Sprintf("  %-48s %10s %10s  %s\n", "a longer name", "", "", "1 op/s")
	if got := progress.String(); got != want {
		t.Errorf("progress:\n%q\nwant\n%q", got, want)
	}
	tb.Print(&out)
	want = "measurement    p50     p99     notes\n" +
		"-----------    ---     ---     -----\n" +
		"lat            2.00ms  2.00ms  n=1\n" +
		"a longer name                  1 op/s\n"
	if out.String() != want {
		t.Errorf("table:\n%s\nwant\n%s", out.String(), want)
	}
	out.Reset()
	tb.Targets = []string{"first: met", "second: NOT met"}
	tb.Print(&out)
	if got := out.String(); !strings.HasSuffix(got, "1 op/s\n\ntargets:\n  first: met\n  second: NOT met\n") {
		t.Errorf("targets not printed after the table:\n%s", got)
	}
}

func TestParseOnly(t *testing.T) {
	sections := []string{"read", "write"}
	got, err := ParseOnly(" write, ,read", sections)
	if err != nil || len(got) != 2 || !got["read"] || !got["write"] {
		t.Errorf("ParseOnly = %v, %v; want read and write", got, err)
	}
	if got, err := ParseOnly("", sections); err != nil || len(got) != 0 {
		t.Errorf("ParseOnly(\"\") = %v, %v; want none", got, err)
	}
	_, err = ParseOnly("read,mem", sections)
	if err == nil || err.Error() != `unknown section "mem" (want read,write)` {
		t.Errorf("ParseOnly(read,mem) error = %v", err)
	}
}

func TestParseLoadAvg(t *testing.T) {
	one, all, ok := parseLoadAvg("3.92 3.05 2.59 7/143 16025\n")
	if !ok || one != 3.92 || all != "3.92 3.05 2.59" {
		t.Errorf("parseLoadAvg = %v, %q, %v", one, all, ok)
	}
	if _, all, ok := parseLoadAvg("1.0 2.0"); ok || all != "unknown" {
		t.Errorf("short line: %q, %v; want unknown, false", all, ok)
	}
}

func TestParseStat(t *testing.T) {
	// A command with spaces and a parenthesis, as /proc allows.
	line := "4242 (postgres: a) b) S 4200 4242 4242 0 -1 4194560 100 0 0 0 25 17 0 0 20 0 1 0 100 0 0\n"
	ppid, ticks, ok := parseStat([]byte(line))
	if !ok || ppid != 4200 || ticks != 42 {
		t.Errorf("parseStat = %d, %d, %v; want 4200, 42, true", ppid, ticks, ok)
	}
	if _, _, ok := parseStat([]byte("1 (init) S 0 1")); ok {
		t.Error("parseStat of a short line: ok")
	}
}

func TestCPUArithmetic(t *testing.T) {
	a, b := CPU{Self: 5, Tree: 7}, CPU{Self: 2, Tree: 3}
	if got := a.Sub(b); got != (CPU{3, 4}) {
		t.Errorf("Sub = %v", got)
	}
	if got := a.Add(b); got != (CPU{7, 10}) {
		t.Errorf("Add = %v", got)
	}
	if got := (CPUMeter{}).Now(); got.Tree != 0 || got.Self <= 0 {
		t.Errorf("CPUMeter{}.Now() = %v; want this process's CPU only", got)
	}
}

func TestConcurrentEach(t *testing.T) {
	var calls [50]atomic.Int32
	s, _, err := ConcurrentEach(len(calls), 4, CPUMeter{}, func(i int) error { calls[i].Add(1); return nil })
	if err != nil {
		t.Fatal(err)
	}
	for i := range calls {
		if n := calls[i].Load(); n != 1 {
			t.Errorf("fn(%d) called %d times, want 1", i, n)
		}
	}
	if s.N() != len(calls) {
		t.Errorf("N = %d, want %d", s.N(), len(calls))
	}
	boom := errors.New("boom")
	if _, _, err := ConcurrentEach(10, 3, CPUMeter{}, func(i int) error {
		if i == 5 {
			return boom
		}
		return nil
	}); !errors.Is(err, boom) {
		t.Errorf("error = %v, want boom", err)
	}
}

func TestSequentialAlternatesAndStopsOnError(t *testing.T) {
	// Each call sleeps, so a 50ms slice holds many calls without spinning.
	var order []int
	call := func(i int) func() error {
		return func() error { order = append(order, i); time.Sleep(time.Millisecond); return nil }
	}
	s, err := Sequential(0, 150*time.Millisecond, 3, CPUMeter{}, call(0), call(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 2 || s[0].N() == 0 || s[1].N() == 0 {
		t.Fatalf("got samples of %d functions, want 2 with calls recorded", len(s))
	}
	if s[0].N()+s[1].N() != len(order) {
		t.Errorf("recorded %d+%d calls of %d", s[0].N(), s[1].N(), len(order))
	}
	// Three rounds of two functions: six runs of calls, 0 1 0 1 0 1.
	var runs []int
	for i, f := range order {
		if i == 0 || f != order[i-1] {
			runs = append(runs, f)
		}
	}
	if fmt.Sprint(runs) != "[0 1 0 1 0 1]" {
		t.Errorf("runs of calls by function = %v, want [0 1 0 1 0 1]", runs)
	}
	boom := errors.New("boom")
	if _, err := Sequential(0, time.Millisecond, 1, CPUMeter{}, func() error { return boom }); !errors.Is(err, boom) {
		t.Errorf("error = %v, want boom", err)
	}
}

func TestThroughputCountsOpsAndStopsOnError(t *testing.T) {
	n, _, _, err := Throughput(2, 0, 50*time.Millisecond, CPUMeter{}, func(int) (int, error) {
		time.Sleep(time.Millisecond)
		return 3, nil
	})
	if err != nil || n == 0 || n%3 != 0 {
		t.Errorf("Throughput = %d, %v; want a positive multiple of 3 and no error", n, err)
	}
	boom := errors.New("boom")
	if _, _, _, err := Throughput(2, 0, time.Millisecond, CPUMeter{}, func(int) (int, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Errorf("error = %v, want boom", err)
	}
}
