package plan

import (
	"fmt"
	"time"
)

// This file plans the strategy of one rollout, from the pool's previous
// current version (From) to the version Plan chose to take over (To), as a
// pure function like Plan: no I/O, no clock. Rollout(spec, observed)
// returns the ramp the gateway should apply (the share of new actors
// placed on To and the share of existing actors that should be on To) and
// the state to record in the pool's status for the next pass.
//
// Invariants:
//   - AllAtOnce promotes at once (100% / 100%): today's behaviour.
//   - Progressive walks its steps in order; a step is left only after the
//     moves it asked for are done and its pause has passed since it began.
//   - Manual walks the same steps, each one only when the user's
//     promotion (ManualVersion == To, ManualStep) allows it; no pause
//     applies.
//   - Before every step change and during every step the health gate of
//     To is checked against To's counts since the rollout began (To is a
//     new version: every request it served came from this rollout); a
//     failed gate
//     rolls back for good (0% / 0%: new actors go to From again and the
//     moved actors move back) with a reason, until a newer version starts
//     another rollout.
//   - A rollout is identified by (From, To): a different pair starts over
//     at step 0; a rolled-back or promoted rollout stays so.

// Strategy is how a new version takes over.
type Strategy string

// Strategies.
const (
	AllAtOnce   Strategy = "AllAtOnce"
	Progressive Strategy = "Progressive"
	Manual      Strategy = "Manual"
)

// RampStep is one step of a Progressive or Manual rollout.
type RampStep struct {
	// NewPercent of new actors are placed on the new version (0-100).
	NewPercent int32
	// MovePercent of existing actors should be on the new version (0-100).
	MovePercent int32
	// Pause is how long the step is held once it begins (Progressive).
	Pause time.Duration
}

// Gate bounds the new version's health during a ramp.
type Gate struct {
	// MaxErrorPercent of failed actions (0-100) once MinCalls were made.
	MaxErrorPercent float64
	MinCalls        int64
	// MaxActivationFailures bounds To's activation failures since the
	// rollout began, MaxCrashLoops its runners crash-looping now;
	// negative disables the check.
	MaxActivationFailures int64
	MaxCrashLoops         int64
}

// RolloutSpec is the pool's rollout strategy.
type RolloutSpec struct {
	Strategy Strategy
	Steps    []RampStep
	// ManualStep is the step the user allows (Manual, counted from 1) for
	// the rollout to ManualVersion (other versions hold at step 1): the
	// ramp begins at step 1 and holds at step max(ManualStep, 1); more
	// than len(Steps) promotes.
	ManualVersion int64
	ManualStep    int32
	Gate          Gate
}

// Health is what is known of one version's health: the engine's counts
// of the actions it served and those that failed (cumulative, from the
// gateway that answered: a sample of the pool's traffic, so the rate is
// what counts), activation failures, and its runners that crash-loop now.
type Health struct {
	Calls, FailedCalls, ActivationFailures, CrashLoops int64
}

// RolloutPhase is where a rollout is.
type RolloutPhase string

// Rollout phases.
const (
	Ramping    RolloutPhase = "Ramping"
	Promoted   RolloutPhase = "Promoted"
	RolledBack RolloutPhase = "RolledBack"
)

// RolloutState is the recorded state of a rollout (in the pool's status).
type RolloutState struct {
	From, To int64
	Phase    RolloutPhase
	// Step is the index of the current step (len(Steps) once promoted).
	Step int32
	// StepStartedAt is when the current step began.
	StepStartedAt time.Time
	// Reason is why the rollout rolled back (a CamelCase word: ErrorRate,
	// ActivationFailures, CrashLoops) and Message says it in full.
	Reason, Message string
	LastTransition  time.Time
}

// RolloutObserved is what a rollout pass starts from.
type RolloutObserved struct {
	Now time.Time
	// From is the version new actors went to before; To the version taking
	// over (Plan's choice). From == 0: nothing to ramp from.
	From, To int64
	// Previous is the recorded state; nil when none.
	Previous *RolloutState
	// Health is To's cumulative health from the engine.
	Health Health
	// ActorsFrom and ActorsTo are the actors on each version now.
	ActorsFrom, ActorsTo int
}

// RolloutResult is the next step of a rollout.
type RolloutResult struct {
	State RolloutState
	// NewPercent and MovePercent are the ramp the gateway should apply.
	NewPercent, MovePercent int32
	// Changed says the state moved (a transition: record it, emit an event).
	Changed bool
	// RequeueAfter is when the pause of the current step ends (0: none).
	RequeueAfter time.Duration
	// Waiting explains what the rollout waits for.
	Waiting string
}

// ValidateRollout checks a rollout spec.
func ValidateRollout(s RolloutSpec) error {
	switch s.Strategy {
	case AllAtOnce, "":
		return nil
	case Progressive, Manual:
	default:
		return fmt.Errorf("unknown rollout strategy %q", s.Strategy)
	}
	if len(s.Steps) == 0 {
		return fmt.Errorf("a %s rollout needs at least one step", s.Strategy)
	}
	var prev RampStep
	for i, st := range s.Steps {
		if st.NewPercent < 0 || st.NewPercent > 100 || st.MovePercent < 0 || st.MovePercent > 100 {
			return fmt.Errorf("step %d: percentages must be within 0-100", i)
		}
		if st.NewPercent < prev.NewPercent || st.MovePercent < prev.MovePercent {
			return fmt.Errorf("step %d: percentages must not decrease from one step to the next", i)
		}
		if st.Pause < 0 {
			return fmt.Errorf("step %d: pause must not be negative", i)
		}
		prev = st
	}
	if s.Gate.MaxErrorPercent < 0 || s.Gate.MaxErrorPercent > 100 {
		return fmt.Errorf("gate: maxErrorPercent must be within 0-100")
	}
	return nil
}

// Rollout plans the next step of the rollout from o.From to o.To.
func Rollout(spec RolloutSpec, o RolloutObserved) RolloutResult {
	if spec.Strategy == "" {
		spec.Strategy = AllAtOnce
	}
	st := RolloutState{From: o.From, To: o.To}
	fresh := o.Previous == nil || o.Previous.From != o.From || o.Previous.To != o.To
	if !fresh {
		st = *o.Previous
	}
	res := RolloutResult{}
	transition := func(phase RolloutPhase, step int32, reason, msg string) {
		st.Phase, st.Step, st.Reason, st.Message = phase, step, reason, msg
		st.StepStartedAt, st.LastTransition = o.Now, o.Now
		res.Changed = true
	}
	switch {
	case fresh && (spec.Strategy == AllAtOnce || o.From == 0 || len(spec.Steps) == 0):
		transition(Promoted, int32(len(spec.Steps)), "", "")
	case fresh:
		transition(Ramping, 0, "", "")
	case st.Phase == Ramping && (spec.Strategy == AllAtOnce || len(spec.Steps) == 0):
		// The strategy was changed to AllAtOnce during the ramp.
		transition(Promoted, int32(len(spec.Steps)), "", "")
	}
	res.State = st
	switch st.Phase {
	case Promoted:
		res.NewPercent, res.MovePercent = 100, 100
		res.State = st
		return res
	case RolledBack:
		res.State = st
		res.Waiting = fmt.Sprintf("rolled back from version %d: %s: %s; create a newer version to roll out again", st.To, st.Reason, st.Message)
		return res
	}

	// Ramping: the gate first, then the step.
	if reason, msg := gateFailure(spec.Gate, o.Health); reason != "" {
		transition(RolledBack, st.Step, reason, msg)
		res.State = st
		res.Waiting = fmt.Sprintf("rolled back from version %d: %s: %s", st.To, reason, msg)
		return res
	}
	st.Step = min(max(st.Step, 0), int32(len(spec.Steps)-1)) // the steps may have been shortened
	step := spec.Steps[st.Step]
	movesDone := movedEnough(step.MovePercent, o.ActorsFrom, o.ActorsTo)
	advance := false
	switch spec.Strategy {
	case Progressive:
		pauseEnd := st.StepStartedAt.Add(step.Pause)
		switch {
		case !movesDone:
			res.Waiting = fmt.Sprintf("step %d: moving actors to version %d (%d%% asked)", st.Step+1, st.To, step.MovePercent)
		case o.Now.Before(pauseEnd):
			res.RequeueAfter = pauseEnd.Sub(o.Now)
			res.Waiting = fmt.Sprintf("step %d: holding until %s", st.Step+1, pauseEnd.UTC().Format(time.RFC3339))
		default:
			advance = true
		}
	case Manual:
		switch {
		case !movesDone:
			res.Waiting = fmt.Sprintf("step %d: moving actors to version %d (%d%% asked)", st.Step+1, st.To, step.MovePercent)
		case spec.ManualVersion == st.To && spec.ManualStep > st.Step+1:
			advance = true
		default:
			res.Waiting = fmt.Sprintf("step %d of %d: waiting for the manual step to be raised to %d", st.Step+1, len(spec.Steps), st.Step+2)
		}
	}
	if advance {
		if int(st.Step)+1 >= len(spec.Steps) {
			transition(Promoted, int32(len(spec.Steps)), "", "")
			res.State = st
			res.NewPercent, res.MovePercent = 100, 100
			res.Waiting = ""
			return res
		}
		transition(Ramping, st.Step+1, "", "")
		step = spec.Steps[st.Step]
		res.Waiting = fmt.Sprintf("step %d: moving actors to version %d (%d%% asked)", st.Step+1, st.To, step.MovePercent)
		if spec.Strategy == Progressive && step.Pause > 0 {
			res.RequeueAfter = step.Pause
		}
	}
	res.State = st
	res.NewPercent, res.MovePercent = step.NewPercent, step.MovePercent
	return res
}

// movedEnough reports whether To holds at least movePercent of the
// actors of both versions (nothing to move counts as done).
func movedEnough(movePercent int32, from, to int) bool {
	total := from + to
	return total == 0 || int64(to)*100 >= int64(movePercent)*int64(total)
}

// gateFailure returns why h fails g (a reason word and a message), or "".
func gateFailure(g Gate, h Health) (reason, msg string) {
	if g.MinCalls <= 0 {
		g.MinCalls = 1
	}
	if h.Calls >= g.MinCalls {
		if pct := float64(h.FailedCalls) * 100 / float64(h.Calls); pct > g.MaxErrorPercent {
			return "ErrorRate", fmt.Sprintf("%.1f%% of %d actions failed (at most %g%% allowed)", pct, h.Calls, g.MaxErrorPercent)
		}
	}
	if g.MaxActivationFailures >= 0 && h.ActivationFailures > g.MaxActivationFailures {
		return "ActivationFailures", fmt.Sprintf("%d activations failed (at most %d allowed)", h.ActivationFailures, g.MaxActivationFailures)
	}
	if g.MaxCrashLoops >= 0 && h.CrashLoops > g.MaxCrashLoops {
		return "CrashLoops", fmt.Sprintf("%d runners crash-looping (at most %d allowed)", h.CrashLoops, g.MaxCrashLoops)
	}
	return "", ""
}
