package benchkit

import (
	"os"
	"strconv"
	"strings"
)

// RSS is the resident set size of this process in bytes, read from
// /proc/self/status (0 when it cannot be read).
func RSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	return parseRSS(string(b))
}

// parseRSS reads the VmRSS line (in kB) of a /proc/<pid>/status file.
func parseRSS(status string) int64 {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				return 0
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
