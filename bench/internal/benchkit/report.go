package benchkit

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Row is one line of the result table.
type Row struct{ Name, P50, P99, Notes string }

// Table is the result table and the targets printed under it.
type Table struct {
	Rows    []Row
	Targets []string
	// Progress, when set, gets each row as it is added, the name padded to
	// NameWidth and the percentiles to ValueWidth.
	Progress              io.Writer
	NameWidth, ValueWidth int
}

// Add appends a row.
func (t *Table) Add(name, p50, p99, notes string) {
	t.Rows = append(t.Rows, Row{name, p50, p99, notes})
	if t.Progress != nil {
		fmt.Fprintf(t.Progress, "  %-*s %*s %*s  %s\n", t.NameWidth, name, t.ValueWidth, p50, t.ValueWidth, p99, notes)
	}
}

// AddSamples appends a row with the p50 and p99 of s.
func (t *Table) AddSamples(name string, s *Samples, notes string) {
	t.Add(name, FmtDur(s.P(50)), FmtDur(s.P(99)), notes)
}

// Print writes the rows in aligned columns and then the targets, if any.
func (t *Table) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measurement\tp50\tp99\tnotes")
	fmt.Fprintln(tw, "-----------\t---\t---\t-----")
	for _, r := range t.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, r.P50, r.P99, r.Notes)
	}
	tw.Flush()
	if len(t.Targets) > 0 {
		fmt.Fprintln(w, "\ntargets:")
		for _, s := range t.Targets {
			fmt.Fprintln(w, "  "+s)
		}
	}
}

// FmtDur formats a duration for the table: "" for 0, whole microseconds
// below a millisecond, then milliseconds or seconds with two decimals.
func FmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return ""
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

// Machine describes the machine after cpus (the CPU count as the caller
// words it): the CPU model, GOMAXPROCS, OS/architecture and Go version.
func Machine(cpus string) string {
	return fmt.Sprintf("%s (%s), GOMAXPROCS=%d, %s/%s, %s",
		cpus, cpuModel(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, goVersion())
}

func goVersion() string {
	if out, err := exec.Command("go", "version").Output(); err == nil {
		return strings.TrimSpace(string(out)) + " (built with " + runtime.Version() + ")"
	}
	return runtime.Version()
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if name, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
		}
	}
	return "unknown"
}

// LoadAvg reads /proc/loadavg: the 1-minute load average and the 1-, 5- and
// 15-minute ones as written there; "unknown" and ok false when unreadable.
func LoadAvg() (one float64, all string, ok bool) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, "unknown", false
	}
	return parseLoadAvg(string(b))
}

func parseLoadAvg(s string) (one float64, all string, ok bool) {
	f := strings.Fields(s)
	if len(f) < 3 {
		return 0, "unknown", false
	}
	one, _ = strconv.ParseFloat(f[0], 64)
	return one, strings.Join(f[:3], " "), true
}

// ParseOnly parses a comma-separated list of sections (the -only flag),
// each of which must be one of sections; an empty list selects none.
func ParseOnly(list string, sections []string) (map[string]bool, error) {
	only := map[string]bool{}
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			if !slices.Contains(sections, s) {
				return nil, fmt.Errorf("unknown section %q (want %s)", s, strings.Join(sections, ","))
			}
			only[s] = true
		}
	}
	return only, nil
}

// StartCPUProfile starts a CPU profile written to path, if path is not
// empty; stop ends it and closes the file.
func StartCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// StartTrace starts a runtime execution trace written to path, if path is
// not empty; stop ends it and closes the file. `go tool trace -pprof=sched`
// of the file shows where goroutines waited to run (handoffs between
// goroutines), `-pprof=net` where they waited for the network.
func StartTrace(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := trace.Start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { trace.Stop(); f.Close() }, nil
}

// KeepAliveClient is an http.Client that keeps up to 1,024 idle
// connections per host, enough for every concurrent caller (the default
// transport keeps only 2, which would reconnect under load).
func KeepAliveClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 1024
	tr.MaxIdleConnsPerHost = 1024
	return &http.Client{Transport: tr}
}

// Fatal ends a benchmark command that failed: it prints err after the
// command's name prog to stderr and exits with status 1.
func Fatal(prog string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
	os.Exit(1)
}

// Target formats one target line as the benchmarks print it under
// "targets:": "MET      <what>" or "NOT MET  <what>" (print it indented by
// two spaces, as Table.Print does).
func Target(ok bool, format string, args ...any) string {
	verdict := "NOT MET"
	if ok {
		verdict = "MET"
	}
	return fmt.Sprintf("%-8s ", verdict) + fmt.Sprintf(format, args...)
}
