package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// RolloutStrategy is how a new ActorVersion takes over a pool.
// +kubebuilder:validation:Enum=AllAtOnce;Progressive;Manual
type RolloutStrategy string

// Rollout strategies.
const (
	// RolloutAllAtOnce: once the new version is available every new actor
	// goes to it and every existing actor drains to it at the pool's drain
	// rate.
	RolloutAllAtOnce RolloutStrategy = "AllAtOnce"
	// RolloutProgressive: the steps are walked in order, each held for its
	// pause, with the gate checked throughout; then the version is
	// promoted.
	RolloutProgressive RolloutStrategy = "Progressive"
	// RolloutManual: the same steps, each one when the user raises
	// spec.rollout.promote.
	RolloutManual RolloutStrategy = "Manual"
)

// RolloutSpec is a pool's rollout strategy: how a new ActorVersion takes
// over from the current one.
//
// +kubebuilder:validation:XValidation:rule="!has(self.strategy) || self.strategy == 'AllAtOnce' || (has(self.steps) && size(self.steps) > 0)",message="Progressive and Manual rollouts need at least one step"
type RolloutSpec struct {
	// Strategy: AllAtOnce (the default), Progressive or Manual.
	// +kubebuilder:default=AllAtOnce
	// +optional
	Strategy RolloutStrategy `json:"strategy,omitempty"`

	// Steps of a Progressive or Manual rollout. The shares must not
	// decrease from one step to the next; after the last step the version
	// is promoted (100% / 100%).
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:XValidation:rule="self.map(s, s.newActorShare).isSorted() && self.map(s, s.moveShare).isSorted()",message="step shares must not decrease from one step to the next"
	// +listType=atomic
	// +optional
	Steps []RolloutStep `json:"steps,omitempty"`

	// Gate bounds the new version's health during a Progressive or Manual
	// rollout; a failed gate rolls the rollout back.
	// +kubebuilder:default={}
	// +optional
	Gate RolloutGate `json:"gate,omitempty"`

	// Promote lets a Manual rollout go on: the rollout to Promote.Version
	// may walk up to step Promote.Step (counted from 1; one more than the
	// number of steps promotes the version). A rollout to another version
	// holds at step 1.
	// +optional
	Promote *RolloutPromotion `json:"promote,omitempty"`
}

// RolloutStep is one step of a ramp.
type RolloutStep struct {
	// NewActorShare is the percentage of new actors placed on the new
	// version.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +required
	NewActorShare int32 `json:"newActorShare"`

	// MoveShare is the percentage of existing actors that should be on
	// the new version; the gateway moves them at the pool's drain rate.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=0
	// +optional
	MoveShare int32 `json:"moveShare"`

	// Pause is how long a Progressive step is held once its moves are
	// done (ignored by Manual).
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('168h')",message="pause must be between 0s and 168h"
	// +kubebuilder:default="1m"
	// +optional
	Pause *metav1.Duration `json:"pause,omitempty"`
}

// RolloutGate bounds the new version's health during a ramp. The counts
// are the engine's since the rollout began (the new version serves only
// the rollout's traffic).
type RolloutGate struct {
	// MaxErrorPercent is the highest percentage of the new version's
	// actions that may fail in the engine or the actor (internal errors,
	// action timeouts); user errors do not count.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=5
	// +optional
	MaxErrorPercent *int32 `json:"maxErrorPercent,omitempty"`

	// MinCalls is how many actions the new version must have served before
	// its error rate is judged.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	// +kubebuilder:default=20
	// +optional
	MinCalls int32 `json:"minCalls,omitempty"`

	// MaxCrashLoops is how many of the new version's runner pods may be
	// in CrashLoopBackOff.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	// +kubebuilder:default=0
	// +optional
	MaxCrashLoops int32 `json:"maxCrashLoops"`
}

// RolloutPromotion is the step a Manual rollout to one version may reach.
type RolloutPromotion struct {
	// Version the promotion is for.
	// +kubebuilder:validation:Minimum=1
	// +required
	Version int64 `json:"version"`
	// Step allowed (from 1); one more than the number of steps promotes.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=21
	// +required
	Step int32 `json:"step"`
}

// RolloutPhase is where a rollout is.
// +kubebuilder:validation:Enum=Ramping;Promoted;RolledBack
type RolloutPhase string

// Rollout phases.
const (
	RolloutRamping    RolloutPhase = "Ramping"
	RolloutPromoted   RolloutPhase = "Promoted"
	RolloutRolledBack RolloutPhase = "RolledBack"
)

// RolloutStatus is the pool's latest rollout: from which version to
// which, where it is, and the health its gate saw.
type RolloutStatus struct {
	// Strategy the rollout follows.
	Strategy RolloutStrategy `json:"strategy"`
	// FromVersion is the version the rollout takes over from (0: none).
	// +optional
	FromVersion int64 `json:"fromVersion,omitempty"`
	// ToVersion is the version rolling out.
	ToVersion int64 `json:"toVersion"`
	// Phase: Ramping, Promoted or RolledBack.
	Phase RolloutPhase `json:"phase"`
	// Step is the current step, counted from 1 (the number of steps plus
	// one once promoted).
	// +optional
	Step int32 `json:"step,omitempty"`
	// Steps is the number of steps.
	// +optional
	Steps int32 `json:"steps,omitempty"`
	// NewActorShare is the percentage of new actors placed on ToVersion.
	// +optional
	NewActorShare int32 `json:"newActorShare"`
	// MoveShare is the percentage of existing actors asked on ToVersion.
	// +optional
	MoveShare int32 `json:"moveShare"`
	// FromActors and ToActors are the awake actors on each version.
	// +optional
	FromActors int32 `json:"fromActors"`
	// +optional
	ToActors int32 `json:"toActors"`
	// Calls and FailedCalls are ToVersion's actions as the engine counted
	// them; CrashLoops its runner pods in CrashLoopBackOff.
	// +optional
	Calls int64 `json:"calls,omitempty"`
	// +optional
	FailedCalls int64 `json:"failedCalls,omitempty"`
	// +optional
	CrashLoops int32 `json:"crashLoops,omitempty"`
	// StepStartedAt is when the current step began.
	// +optional
	StepStartedAt *metav1.Time `json:"stepStartedAt,omitempty"`
	// LastTransitionTime is when the rollout last changed step or phase.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`
	// Reason is why the rollout rolled back (ErrorRate, CrashLoops).
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message explains the rollback or says what the rollout waits for.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Message string `json:"message,omitempty"`
}

// ConditionRolledBack is true on a RunnerPool whose latest rollout was
// rolled back by its gate; the reason says which check failed.
const ConditionRolledBack = "RolledBack"
