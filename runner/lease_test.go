package runner

import (
	"testing"
	"time"
)

func TestLeaseGate(t *testing.T) {
	t.Parallel()
	const lease = time.Hour // long enough that the test's own run time never matters
	now := time.Now()
	tests := []struct {
		name  string
		start time.Time  // gate origin
		renew *time.Time // a successful heartbeat sent then
		want  bool
	}{
		{"fresh", now, nil, true},
		{"lapsed without heartbeat", now.Add(-lease), nil, false},
		{"renewed after lapse", now.Add(-lease), &now, true},
		{"renewed with an old heartbeat", now.Add(-2 * lease), ptr(now.Add(-lease)), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newLeaseGate(lease, tc.start)
			if tc.renew != nil {
				g.renew(*tc.renew)
			}
			if got := g.valid(); got != tc.want {
				t.Fatalf("valid() = %v, want %v", got, tc.want)
			}
		})
	}
	var none *leaseGate
	if !none.valid() {
		t.Fatal("the local engine's nil gate must be valid")
	}
	g := newLeaseGate(lease, now.Add(-lease))
	g.renew(now)
	g.renew(now.Add(-lease)) // an older heartbeat never moves the lease back
	if !g.valid() {
		t.Fatal("an older renewal moved the lease back")
	}
}

func ptr[T any](v T) *T { return &v }
