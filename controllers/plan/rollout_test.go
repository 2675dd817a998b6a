package plan

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

var r0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func steps() []RampStep {
	return []RampStep{
		{NewPercent: 10, MovePercent: 0, Pause: time.Minute},
		{NewPercent: 50, MovePercent: 25, Pause: 2 * time.Minute},
		{NewPercent: 100, MovePercent: 50, Pause: 0},
	}
}

func progressive() RolloutSpec {
	return RolloutSpec{Strategy: Progressive, Steps: steps(),
		Gate: Gate{MaxErrorPercent: 5, MinCalls: 100, MaxActivationFailures: 3, MaxCrashLoops: 0}}
}

func manual(step int32) RolloutSpec {
	s := progressive()
	s.Strategy, s.ManualVersion, s.ManualStep = Manual, 2, step
	return s
}

func ramping(step int32, started time.Time) *RolloutState {
	return &RolloutState{From: 1, To: 2, Phase: Ramping, Step: step, StepStartedAt: started, LastTransition: started}
}

func TestRollout(t *testing.T) {
	t.Parallel()
	healthy := Health{Calls: 1000, FailedCalls: 10}
	tests := []struct {
		name string
		spec RolloutSpec
		obs  RolloutObserved
		want RolloutResult
		// waiting is a substring of Waiting ("" means Waiting is empty).
		waiting string
	}{
		{
			name: "all at once promotes at once",
			spec: RolloutSpec{Strategy: AllAtOnce},
			obs:  RolloutObserved{Now: r0, From: 1, To: 2, ActorsFrom: 100},
			want: RolloutResult{NewPercent: 100, MovePercent: 100, Changed: true,
				State: RolloutState{From: 1, To: 2, Phase: Promoted, StepStartedAt: r0, LastTransition: r0}},
		},
		{
			name: "no strategy is all at once",
			obs:  RolloutObserved{Now: r0, From: 1, To: 2},
			want: RolloutResult{NewPercent: 100, MovePercent: 100, Changed: true,
				State: RolloutState{From: 1, To: 2, Phase: Promoted, StepStartedAt: r0, LastTransition: r0}},
		},
		{
			name: "first version has nothing to ramp from",
			spec: progressive(),
			obs:  RolloutObserved{Now: r0, From: 0, To: 1},
			want: RolloutResult{NewPercent: 100, MovePercent: 100, Changed: true,
				State: RolloutState{From: 0, To: 1, Phase: Promoted, Step: 3, StepStartedAt: r0, LastTransition: r0}},
		},
		{
			name: "progressive begins at step 1 and holds its pause",
			spec: progressive(),
			obs:  RolloutObserved{Now: r0, From: 1, To: 2, ActorsFrom: 100, Health: healthy},
			want: RolloutResult{NewPercent: 10, MovePercent: 0, Changed: true, RequeueAfter: time.Minute,
				State: RolloutState{From: 1, To: 2, Phase: Ramping, Step: 0, StepStartedAt: r0, LastTransition: r0}},
			waiting: "step 1: holding until",
		},
		{
			name: "progressive advances after the pause",
			spec: progressive(),
			obs: RolloutObserved{Now: r0.Add(time.Minute), From: 1, To: 2, Previous: ramping(0, r0),
				ActorsFrom: 90, ActorsTo: 10, Health: Health{Calls: 1100, FailedCalls: 11}},
			want: RolloutResult{NewPercent: 50, MovePercent: 25, Changed: true, RequeueAfter: 2 * time.Minute,
				State: RolloutState{From: 1, To: 2, Phase: Ramping, Step: 1, StepStartedAt: r0.Add(time.Minute), LastTransition: r0.Add(time.Minute)}},
			waiting: "step 2: moving actors to version 2 (25% asked)",
		},
		{
			name: "progressive waits for the moves before the pause counts",
			spec: progressive(),
			obs: RolloutObserved{Now: r0.Add(time.Hour), From: 1, To: 2, Previous: ramping(1, r0),
				ActorsFrom: 80, ActorsTo: 20, Health: healthy},
			want:    RolloutResult{NewPercent: 50, MovePercent: 25, State: *ramping(1, r0)},
			waiting: "step 2: moving actors",
		},
		{
			name: "progressive holds a step until its pause passed",
			spec: progressive(),
			obs: RolloutObserved{Now: r0.Add(90 * time.Second), From: 1, To: 2, Previous: ramping(1, r0),
				ActorsFrom: 75, ActorsTo: 25, Health: healthy},
			want:    RolloutResult{NewPercent: 50, MovePercent: 25, RequeueAfter: 30 * time.Second, State: *ramping(1, r0)},
			waiting: "step 2: holding",
		},
		{
			name: "progressive promotes after the last step",
			spec: progressive(),
			obs: RolloutObserved{Now: r0.Add(time.Hour), From: 1, To: 2, Previous: ramping(2, r0),
				ActorsFrom: 50, ActorsTo: 50, Health: healthy},
			want: RolloutResult{NewPercent: 100, MovePercent: 100, Changed: true,
				State: RolloutState{From: 1, To: 2, Phase: Promoted, Step: 3, StepStartedAt: r0.Add(time.Hour), LastTransition: r0.Add(time.Hour)}},
		},
		{
			name: "a ramp whose strategy became all at once promotes",
			spec: RolloutSpec{Strategy: AllAtOnce},
			obs: RolloutObserved{Now: r0.Add(time.Second), From: 1, To: 2, Previous: ramping(1, r0),
				ActorsFrom: 75, ActorsTo: 25, Health: healthy},
			want: RolloutResult{NewPercent: 100, MovePercent: 100, Changed: true,
				State: RolloutState{From: 1, To: 2, Phase: Promoted, StepStartedAt: r0.Add(time.Second), LastTransition: r0.Add(time.Second)}},
		},
		{
			name: "a ramp whose steps were shortened promotes after the last one",
			spec: RolloutSpec{Strategy: Progressive, Steps: steps()[:1], Gate: progressive().Gate},
			obs: RolloutObserved{Now: r0.Add(time.Hour), From: 1, To: 2, Previous: ramping(2, r0),
				ActorsFrom: 50, ActorsTo: 50, Health: healthy},
			want: RolloutResult{NewPercent: 100, MovePercent: 100, Changed: true,
				State: RolloutState{From: 1, To: 2, Phase: Promoted, Step: 1, StepStartedAt: r0.Add(time.Hour), LastTransition: r0.Add(time.Hour)}},
		},
		{
			name: "a promoted rollout stays promoted whatever the health",
			spec: progressive(),
			obs: RolloutObserved{Now: r0.Add(2 * time.Hour), From: 1, To: 2,
				Previous: &RolloutState{From: 1, To: 2, Phase: Promoted, Step: 3, LastTransition: r0},
				Health:   Health{Calls: 5000, FailedCalls: 5000}},
			want: RolloutResult{NewPercent: 100, MovePercent: 100, State: RolloutState{From: 1, To: 2, Phase: Promoted, Step: 3, LastTransition: r0}},
		},
		{
			name: "error rate over the gate rolls back",
			spec: progressive(),
			obs: RolloutObserved{Now: r0.Add(30 * time.Second), From: 1, To: 2, Previous: ramping(1, r0),
				ActorsFrom: 75, ActorsTo: 25, Health: Health{Calls: 200, FailedCalls: 20}},
			want: RolloutResult{NewPercent: 0, MovePercent: 0, Changed: true,
				State: RolloutState{From: 1, To: 2, Phase: RolledBack, Step: 1, StepStartedAt: r0.Add(30 * time.Second), LastTransition: r0.Add(30 * time.Second),
					Reason: "ErrorRate", Message: "10.0% of 200 actions failed (at most 5% allowed)"}},
			waiting: "rolled back from version 2: ErrorRate",
		},
		{
			name: "too few calls are not judged",
			spec: progressive(),
			obs: RolloutObserved{Now: r0.Add(30 * time.Second), From: 1, To: 2, Previous: ramping(0, r0),
				ActorsFrom: 100, Health: Health{Calls: 99, FailedCalls: 60}},
			want:    RolloutResult{NewPercent: 10, MovePercent: 0, RequeueAfter: 30 * time.Second, State: *ramping(0, r0)},
			waiting: "holding",
		},
		{
			name: "activation failures over the gate roll back",
			spec: progressive(),
			obs: RolloutObserved{Now: r0.Add(time.Second), From: 1, To: 2, Previous: ramping(0, r0),
				Health: Health{ActivationFailures: 4}},
			want: RolloutResult{Changed: true,
				State: RolloutState{From: 1, To: 2, Phase: RolledBack, StepStartedAt: r0.Add(time.Second),
					LastTransition: r0.Add(time.Second), Reason: "ActivationFailures", Message: "4 activations failed (at most 3 allowed)"}},
			waiting: "rolled back",
		},
		{
			name: "a crash loop rolls back a manual rollout too",
			spec: manual(2),
			obs: RolloutObserved{Now: r0.Add(time.Second), From: 1, To: 2, Previous: ramping(1, r0),
				Health: Health{CrashLoops: 1}},
			want: RolloutResult{Changed: true,
				State: RolloutState{From: 1, To: 2, Phase: RolledBack, Step: 1, StepStartedAt: r0.Add(time.Second),
					LastTransition: r0.Add(time.Second), Reason: "CrashLoops", Message: "1 runners crash-looping (at most 0 allowed)"}},
			waiting: "rolled back",
		},
		{
			name: "a rolled-back rollout stays rolled back",
			spec: progressive(),
			obs: RolloutObserved{Now: r0.Add(time.Hour), From: 1, To: 2,
				Previous: &RolloutState{From: 1, To: 2, Phase: RolledBack, Step: 1, Reason: "ErrorRate", Message: "x", LastTransition: r0},
				Health:   Health{Calls: 1e6}},
			want:    RolloutResult{State: RolloutState{From: 1, To: 2, Phase: RolledBack, Step: 1, Reason: "ErrorRate", Message: "x", LastTransition: r0}},
			waiting: "create a newer version",
		},
		{
			name: "a newer version starts a new rollout after a rollback",
			spec: progressive(),
			obs: RolloutObserved{Now: r0.Add(time.Hour), From: 1, To: 3,
				Previous: &RolloutState{From: 1, To: 2, Phase: RolledBack, Step: 1, Reason: "ErrorRate", Message: "x", LastTransition: r0}},
			want: RolloutResult{NewPercent: 10, Changed: true, RequeueAfter: time.Minute,
				State: RolloutState{From: 1, To: 3, Phase: Ramping, StepStartedAt: r0.Add(time.Hour), LastTransition: r0.Add(time.Hour)}},
			waiting: "holding",
		},
		{
			name: "manual holds at the allowed step without pauses",
			spec: manual(1),
			obs: RolloutObserved{Now: r0.Add(time.Hour), From: 1, To: 2, Previous: ramping(0, r0),
				ActorsFrom: 100, Health: healthy},
			want:    RolloutResult{NewPercent: 10, MovePercent: 0, State: *ramping(0, r0)},
			waiting: "waiting for the manual step to be raised to 2",
		},
		{
			name: "manual advances when the user raises the step, pause or not",
			spec: manual(2),
			obs: RolloutObserved{Now: r0.Add(time.Second), From: 1, To: 2, Previous: ramping(0, r0),
				ActorsFrom: 100, Health: healthy},
			want: RolloutResult{NewPercent: 50, MovePercent: 25, Changed: true,
				State: RolloutState{From: 1, To: 2, Phase: Ramping, Step: 1, StepStartedAt: r0.Add(time.Second), LastTransition: r0.Add(time.Second)}},
			waiting: "step 2: moving actors",
		},
		{
			name: "manual ignores a promotion meant for another version",
			spec: func() RolloutSpec { s := manual(4); s.ManualVersion = 7; return s }(),
			obs: RolloutObserved{Now: r0.Add(time.Second), From: 1, To: 2, Previous: ramping(0, r0),
				ActorsFrom: 100, Health: healthy},
			want:    RolloutResult{NewPercent: 10, MovePercent: 0, State: *ramping(0, r0)},
			waiting: "waiting for the manual step to be raised to 2",
		},
		{
			name: "manual promotes past the last step",
			spec: manual(4),
			obs: RolloutObserved{Now: r0.Add(time.Second), From: 1, To: 2, Previous: ramping(2, r0),
				ActorsFrom: 40, ActorsTo: 60, Health: healthy},
			want: RolloutResult{NewPercent: 100, MovePercent: 100, Changed: true,
				State: RolloutState{From: 1, To: 2, Phase: Promoted, Step: 3, StepStartedAt: r0.Add(time.Second), LastTransition: r0.Add(time.Second)}},
		},
		{
			name: "manual at the last step waits for the promotion",
			spec: manual(3),
			obs: RolloutObserved{Now: r0.Add(time.Second), From: 1, To: 2, Previous: ramping(2, r0),
				ActorsFrom: 40, ActorsTo: 60, Health: healthy},
			want:    RolloutResult{NewPercent: 100, MovePercent: 50, State: *ramping(2, r0)},
			waiting: "step 3 of 3: waiting for the manual step to be raised to 4",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := ValidateRollout(tc.spec); err != nil {
				t.Fatalf("spec invalid: %v", err)
			}
			got := Rollout(tc.spec, tc.obs)
			waiting := got.Waiting
			got.Waiting = ""
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Rollout:\n got  %+v\n want %+v", got, tc.want)
			}
			if tc.waiting == "" && waiting != "" || !strings.Contains(waiting, tc.waiting) {
				t.Fatalf("Waiting = %q, want it to contain %q", waiting, tc.waiting)
			}
		})
	}
}

// TestRolloutWalk runs a whole progressive rollout pass by pass, the
// recorded state fed back as the controller does, with actors moving as
// the ramp asks.
func TestRolloutWalk(t *testing.T) {
	t.Parallel()
	spec := progressive()
	var prev *RolloutState
	now := r0
	from, to := 1000, 0
	var shares [][2]int32
	for pass := 0; pass < 100; pass++ {
		r := Rollout(spec, RolloutObserved{Now: now, From: 1, To: 2, Previous: prev, ActorsFrom: from, ActorsTo: to,
			Health: Health{Calls: int64(pass) * 100}})
		if r.Changed {
			shares = append(shares, [2]int32{r.NewPercent, r.MovePercent})
		}
		st := r.State
		prev = &st
		if st.Phase == Promoted {
			break
		}
		// The gateway moves actors up to the asked share between passes.
		if want := (from + to) * int(r.MovePercent) / 100; to < want {
			from, to = from-(want-to), want
		}
		now = now.Add(30 * time.Second)
	}
	if prev.Phase != Promoted {
		t.Fatalf("not promoted after 100 passes: %+v", prev)
	}
	want := [][2]int32{{10, 0}, {50, 25}, {100, 50}, {100, 100}}
	if !reflect.DeepEqual(shares, want) {
		t.Fatalf("transitions %v, want %v", shares, want)
	}
	// Step 1 held 1 min, step 2 held 2 min, step 3 no pause: promoted at
	// 3 min plus the 30 s pass granularity at most.
	if d := prev.LastTransition.Sub(r0); d < 3*time.Minute || d > 4*time.Minute {
		t.Fatalf("promoted %v after the start, want 3 to 4 minutes", d)
	}
}

func TestValidateRollout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		spec RolloutSpec
		err  string
	}{
		{"all at once", RolloutSpec{Strategy: AllAtOnce}, ""},
		{"progressive", progressive(), ""},
		{"unknown", RolloutSpec{Strategy: "Canary"}, "unknown rollout strategy"},
		{"no steps", RolloutSpec{Strategy: Progressive}, "at least one step"},
		{"over 100", RolloutSpec{Strategy: Manual, Steps: []RampStep{{NewPercent: 101}}}, "within 0-100"},
		{"decreasing", RolloutSpec{Strategy: Progressive, Steps: []RampStep{{NewPercent: 50}, {NewPercent: 10}}}, "must not decrease"},
		{"negative pause", RolloutSpec{Strategy: Progressive, Steps: []RampStep{{Pause: -time.Second}}}, "pause"},
		{"gate", RolloutSpec{Strategy: Progressive, Steps: steps(), Gate: Gate{MaxErrorPercent: 200}}, "maxErrorPercent"},
	} {
		err := ValidateRollout(tc.spec)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: ValidateRollout = %v, want %q", tc.name, err, tc.err)
		}
	}
}

// FuzzRollout: whatever the spec (valid or not, changed mid-rollout), the
// recorded state and the health, Rollout does not panic, asks for shares
// within 0-100, and a rolled-back rollout asks for nothing.
func FuzzRollout(f *testing.F) {
	f.Add(uint8(1), uint8(3), int32(2), uint8(1), int32(1), int64(100), int64(3), 10, 5)
	f.Add(uint8(0), uint8(0), int32(9), uint8(0), int32(7), int64(0), int64(0), 0, 0)
	f.Fuzz(func(t *testing.T, strategy, nsteps uint8, manual int32, phase uint8, step int32, calls, failed int64, from, to int) {
		spec := RolloutSpec{Strategy: []Strategy{AllAtOnce, Progressive, Manual, ""}[strategy%4], ManualVersion: 2, ManualStep: manual,
			Gate: Gate{MaxErrorPercent: 5, MinCalls: 10, MaxActivationFailures: -1}}
		for i := range int(nsteps % 6) {
			spec.Steps = append(spec.Steps, RampStep{NewPercent: int32(i * 20), MovePercent: int32(i * 10), Pause: time.Duration(i) * time.Second})
		}
		prev := &RolloutState{From: 1, To: 2, Phase: []RolloutPhase{Ramping, Promoted, RolledBack}[phase%3], Step: step, StepStartedAt: r0}
		r := Rollout(spec, RolloutObserved{Now: r0.Add(time.Minute), From: 1, To: 2, Previous: prev,
			Health: Health{Calls: calls, FailedCalls: failed}, ActorsFrom: from, ActorsTo: to})
		if r.NewPercent < 0 || r.NewPercent > 100 || r.MovePercent < 0 || r.MovePercent > 100 {
			t.Fatalf("shares %d/%d", r.NewPercent, r.MovePercent)
		}
		if r.State.Phase == RolledBack && (r.NewPercent != 0 || r.MovePercent != 0) {
			t.Fatalf("rolled back but asks %d/%d", r.NewPercent, r.MovePercent)
		}
	})
}
