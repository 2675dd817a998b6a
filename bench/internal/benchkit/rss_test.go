package benchkit

import "testing"

func TestParseRSS(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"Name:\tbench\nVmPeak:\t  100 kB\nVmRSS:\t   2048 kB\nThreads: 4\n", 2048 << 10},
		{"Name:\tbench\n", 0},
		{"VmRSS:\n", 0},
		{"VmRSS:\tx kB\n", 0},
	} {
		if got := parseRSS(tc.in); got != tc.want {
			t.Errorf("parseRSS(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
