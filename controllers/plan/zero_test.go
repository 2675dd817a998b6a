package plan

import (
	"testing"
	"time"
)

// zeroPool is a pool of version 1 with minReplicas 0 and a 5 minute idle
// period, last active at lastActive, whose version 1 had replicas runners
// (each hosting actorsEach actors).
func zeroPool(replicas int32, actorsEach int, lastActive time.Duration) (Desired, Observed) {
	var rs []Runner
	for i := range replicas {
		rs = append(rs, runner(string(rune('1'+i)), actorsEach))
	}
	d, o := steady(replicas, int(replicas)*actorsEach, rs...)
	d.MinReplicas, d.ScaleToZeroAfter = 0, 5*time.Minute
	o.LastActive = at(lastActive)
	return d, o
}

func since(d time.Duration) *time.Duration { return &d }

func TestScaleToZero(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setup   func() (Desired, Observed)
		zero    *ZeroState // nil: scale to zero is off
		want    int32      // planned replicas of version 1
		desired int32
		mark    string
		remove  string
		// requeue is the wanted RequeueAfter (0: not checked).
		requeue     time.Duration
		progressing bool
	}{
		{
			name: "minReplicas 1: never zero",
			setup: func() (Desired, Observed) {
				d, o := zeroPool(1, 0, -time.Hour)
				d.MinReplicas = 1
				return d, o
			},
			want: 1, desired: 1, requeue: 30 * time.Second,
		},
		{
			name: "external mode: the HPA decides",
			setup: func() (Desired, Observed) {
				d, o := zeroPool(1, 0, -time.Hour)
				d.Mode = ModeExternal
				return d, o
			},
			want: 1, desired: 1,
		},
		{
			name:  "idle for less than the period: one runner stays",
			setup: func() (Desired, Observed) { return zeroPool(1, 0, -time.Minute) },
			zero:  &ZeroState{LastActive: t0.Add(-time.Minute)},
			want:  1, desired: 1, requeue: 30 * time.Second,
		},
		{
			name: "idle period about to end: look again when it does",
			setup: func() (Desired, Observed) {
				return zeroPool(1, 0, -5*time.Minute+10*time.Second)
			},
			zero: &ZeroState{LastActive: t0.Add(-5*time.Minute + 10*time.Second)},
			want: 1, desired: 1, requeue: 10 * time.Second,
		},
		{
			name:  "first plan: the pool counts as active now",
			setup: func() (Desired, Observed) { d, o := zeroPool(1, 0, 0); o.LastActive = nil; return d, o },
			zero:  &ZeroState{LastActive: t0},
			want:  1, desired: 1,
		},
		{
			name:  "awake actors keep it active",
			setup: func() (Desired, Observed) { return zeroPool(1, 3, -time.Hour) },
			zero:  &ZeroState{LastActive: t0},
			want:  1, desired: 1,
		},
		{
			name:  "idle for the period: the last runner is drained and removed",
			setup: func() (Desired, Observed) { return zeroPool(1, 0, -5*time.Minute) },
			zero:  &ZeroState{LastActive: t0.Add(-5 * time.Minute), Idle: true, ScaledToZero: true},
			want:  0, desired: 0, mark: "1", remove: "pod-1", requeue: 2 * time.Second, progressing: true,
		},
		{
			name: "the scale-down window does not delay it",
			setup: func() (Desired, Observed) {
				d, o := zeroPool(1, 0, -6*time.Minute)
				d.ScaleDownWindow = 10 * time.Minute
				o.Recommendations = []Recommendation{{At: t0.Add(-time.Minute), Replicas: 1}}
				return d, o
			},
			zero: &ZeroState{LastActive: t0.Add(-6 * time.Minute), Idle: true, ScaledToZero: true},
			want: 0, desired: 0, mark: "1", remove: "pod-1", progressing: true,
		},
		{
			name:  "two idle runners go one at a time",
			setup: func() (Desired, Observed) { return zeroPool(2, 0, -time.Hour) },
			zero:  &ZeroState{LastActive: t0.Add(-time.Hour), Idle: true, ScaledToZero: true},
			want:  1, desired: 0, mark: "1", remove: "pod-1", progressing: true,
		},
		{
			name: "at zero without demand: stays, looked at often",
			setup: func() (Desired, Observed) {
				d, o := zeroPool(0, 0, -time.Hour)
				o.Gateway.SinceDemand = since(2 * time.Hour) // older than the last activity
				return d, o
			},
			zero: &ZeroState{LastActive: t0.Add(-time.Hour), LastDemand: at(-2 * time.Hour), Idle: true, ScaledToZero: true},
			want: 0, desired: 0, requeue: 2 * time.Second,
		},
		{
			name: "demand at zero: one runner back in this plan",
			setup: func() (Desired, Observed) {
				d, o := zeroPool(0, 0, -time.Hour)
				o.Gateway.SinceDemand = since(time.Second)
				return d, o
			},
			zero: &ZeroState{LastActive: t0.Add(-time.Second), LastDemand: at(-time.Second), Waking: true},
			want: 1, desired: 1, progressing: true, requeue: 2 * time.Second,
		},
		{
			name: "demand at zero is not held back by the scale-up window",
			setup: func() (Desired, Observed) {
				d, o := zeroPool(0, 0, -time.Hour)
				d.ScaleUpWindow = 10 * time.Minute
				o.Recommendations = []Recommendation{{At: t0.Add(-time.Minute), Replicas: 0}}
				o.Gateway.SinceDemand = since(0)
				return d, o
			},
			zero: &ZeroState{LastActive: t0, LastDemand: at(0), Waking: true},
			want: 1, desired: 1, progressing: true,
		},
		{
			name: "demand during the idle period restarts it",
			setup: func() (Desired, Observed) {
				d, o := zeroPool(1, 0, -10*time.Minute)
				o.Gateway.SinceDemand = since(time.Minute)
				return d, o
			},
			zero: &ZeroState{LastActive: t0.Add(-time.Minute), LastDemand: at(-time.Minute)},
			want: 1, desired: 1,
		},
		{
			name: "gateway unreachable at zero: hold at zero",
			setup: func() (Desired, Observed) {
				d, o := zeroPool(0, 0, -time.Hour)
				o.Gateway = nil
				return d, o
			},
			zero: &ZeroState{LastActive: t0.Add(-time.Hour)},
			want: 0, desired: 0,
		},
		{
			name: "gateway unreachable with a runner: hold it",
			setup: func() (Desired, Observed) {
				d, o := zeroPool(1, 0, -time.Hour)
				o.Gateway = nil
				return d, o
			},
			zero: &ZeroState{LastActive: t0.Add(-time.Hour)},
			want: 1, desired: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, o := tc.setup()
			r := Plan(d, o)
			v1 := find(r, 1)
			if v1.Phase != Current || r.Current != 1 {
				t.Errorf("version 1 is %s (current %d), want it to stay Current", v1.Phase, r.Current)
			}
			if v1.Replicas != tc.want || r.DesiredReplicas != tc.desired {
				t.Errorf("replicas %d desired %d, want %d and %d", v1.Replicas, r.DesiredReplicas, tc.want, tc.desired)
			}
			if r.MarkDraining != tc.mark || r.RemovePod != tc.remove {
				t.Errorf("mark %q remove %q, want %q and %q", r.MarkDraining, r.RemovePod, tc.mark, tc.remove)
			}
			if r.Routing != nil {
				t.Errorf("routing changed to %+v; scaling to zero must not touch it", *r.Routing)
			}
			switch {
			case tc.zero == nil && r.Zero != nil:
				t.Errorf("zero state %+v, want none (scale to zero off)", *r.Zero)
			case tc.zero != nil && r.Zero == nil:
				t.Errorf("no zero state, want %+v", *tc.zero)
			case tc.zero != nil:
				if !sameZero(*tc.zero, *r.Zero) {
					t.Errorf("zero state %+v, want %+v", *r.Zero, *tc.zero)
				}
			}
			if tc.requeue != 0 && r.RequeueAfter != tc.requeue {
				t.Errorf("requeue after %s, want %s", r.RequeueAfter, tc.requeue)
			}
			if r.Progressing != tc.progressing {
				t.Errorf("progressing %v (%q), want %v", r.Progressing, r.Waiting, tc.progressing)
			}
		})
	}
}

func sameZero(a, b ZeroState) bool {
	sameDemand := (a.LastDemand == nil) == (b.LastDemand == nil) && (a.LastDemand == nil || a.LastDemand.Equal(*b.LastDemand))
	return a.LastActive.Equal(b.LastActive) && sameDemand && a.Idle == b.Idle && a.ScaledToZero == b.ScaledToZero && a.Waking == b.Waking
}
