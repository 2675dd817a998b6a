package benchkit

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPU is user+system CPU time: of this process (Self) and of a watched
// process tree (Tree, see CPUMeter).
type CPU struct{ Self, Tree time.Duration }

// Add is a+b.
func (a CPU) Add(b CPU) CPU { return CPU{a.Self + b.Self, a.Tree + b.Tree} }

// Sub is a-b.
func (a CPU) Sub(b CPU) CPU { return CPU{a.Self - b.Self, a.Tree - b.Tree} }

// CPUMeter reads the CPU time used so far by this process and, when Root is
// not 0, by process Root and its direct children (a PostgreSQL postmaster
// and its backends), from /proc. The zero CPUMeter reads this process only.
type CPUMeter struct{ Root int }

// Now is the CPU time used so far.
func (m CPUMeter) Now() CPU {
	u := CPU{Self: SelfCPU()}
	if m.Root != 0 {
		u.Tree = treeCPU(m.Root)
	}
	return u
}

// SelfCPU is the user+system CPU time of this process so far (0 if
// getrusage fails).
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const clockTick = 10 * time.Millisecond // USER_HZ is 100 on Linux

// treeCPU is the CPU time of process root and its direct children.
func treeCPU(root int) time.Duration {
	var total time.Duration
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		ppid, ticks, ok := parseStat(b)
		if !ok || (pid != root && ppid != root) {
			continue
		}
		total += time.Duration(ticks) * clockTick
	}
	return total
}

// parseStat reads the parent PID and the user+system clock ticks from the
// contents of /proc/<pid>/stat.
func parseStat(b []byte) (ppid int, ticks int64, ok bool) {
	// Fields after the parenthesized command: state ppid ... utime(14) stime(15).
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ppid, ut + st, true
}
