package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AutoscalingMode says who sets a pool's replicas.
// +kubebuilder:validation:Enum=operator;external
type AutoscalingMode string

const (
	// AutoscalingOperator: the operator sets replicas from actor counts and
	// drains the emptiest runner before it removes one.
	AutoscalingOperator AutoscalingMode = "operator"
	// AutoscalingExternal: spec.replicas is set by someone else (an HPA or
	// KEDA through the /scale subresource) and the operator applies it.
	AutoscalingExternal AutoscalingMode = "external"
)

// RunnerPoolSpec is the desired state of a pool of runners.
//
// +kubebuilder:validation:XValidation:rule="self.minReplicas <= self.maxReplicas",message="minReplicas must not exceed maxReplicas"
type RunnerPoolSpec struct {
	// EngineRef names the RivetEngine (same namespace) the runners join.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="engineRef is immutable"
	// +required
	EngineRef LocalRef `json:"engineRef"`

	// Template is the runner pod template. The container named "runner"
	// (or the first container) runs the ActorVersion's image; the operator
	// adds the RIVET_* environment, ports, probes and drain settings.
	// +optional
	Template *corev1.PodTemplateSpec `json:"template,omitempty"`

	// Replicas is the number of runners of the current version in external
	// mode (set through /scale by an HPA or KEDA). Ignored in operator mode.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// MinReplicas is the fewest runners of the current version.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	// +kubebuilder:default=1
	// +optional
	MinReplicas int32 `json:"minReplicas"`

	// MaxReplicas is the most runners of the current version.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	// +kubebuilder:default=10
	// +optional
	MaxReplicas int32 `json:"maxReplicas"`

	// Autoscaling configures how replicas follow actor counts.
	// +kubebuilder:default={}
	// +optional
	Autoscaling AutoscalingSpec `json:"autoscaling,omitempty"`

	// Drain configures how old versions and removed runners give up their
	// actors.
	// +kubebuilder:default={}
	// +optional
	Drain DrainSpec `json:"drain,omitempty"`

	// Rollout is how a new ActorVersion takes over (AllAtOnce by default).
	// +kubebuilder:default={}
	// +optional
	Rollout RolloutSpec `json:"rollout,omitempty"`
}

// AutoscalingSpec configures operator-mode autoscaling.
type AutoscalingSpec struct {
	// Mode: operator (the operator scales) or external (HPA/KEDA via /scale).
	// +kubebuilder:default=operator
	// +optional
	Mode AutoscalingMode `json:"mode,omitempty"`

	// TargetActorsPerRunner is how many awake actors one runner should host.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	// +kubebuilder:default=100
	// +optional
	TargetActorsPerRunner int32 `json:"targetActorsPerRunner,omitempty"`

	// ScaleUpStabilizationWindow: scale up to the lowest recommendation of
	// this window (0s scales up at once).
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('1h')",message="scaleUpStabilizationWindow must be between 0s and 1h"
	// +kubebuilder:default="0s"
	// +optional
	ScaleUpStabilizationWindow *metav1.Duration `json:"scaleUpStabilizationWindow,omitempty"`

	// ScaleDownStabilizationWindow: scale down to the highest recommendation
	// of this window.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('1h')",message="scaleDownStabilizationWindow must be between 0s and 1h"
	// +kubebuilder:default="5m"
	// +optional
	ScaleDownStabilizationWindow *metav1.Duration `json:"scaleDownStabilizationWindow,omitempty"`

	// ScaleToZeroAfter: with minReplicas 0 (operator mode), the pool keeps
	// one runner until it has had no awake actor and no request or due
	// work waiting for a runner for this long, then it has none; the next
	// request (or due alarm or queued message) brings one back, waiting in
	// the gateway meanwhile. Ignored when minReplicas is above 0.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('24h')",message="scaleToZeroAfter must be between 1s and 24h"
	// +kubebuilder:default="5m"
	// +optional
	ScaleToZeroAfter *metav1.Duration `json:"scaleToZeroAfter,omitempty"`
}

// DrainSpec configures draining.
type DrainSpec struct {
	// ActorsPerSecond is the rate at which the gateway moves actors off a
	// draining version.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	// +kubebuilder:default=50
	// +optional
	ActorsPerSecond int32 `json:"actorsPerSecond,omitempty"`

	// Timeout bounds one runner's drain: the runner's shutdown timeout, the
	// pod's grace period (timeout plus the preStop pause and a margin), and
	// how long the autoscaler waits for a victim to empty.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('1h')",message="timeout must be between 1s and 1h"
	// +kubebuilder:default="60s"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// PreStopSeconds is the pause of the runner's preStop hook before
	// SIGTERM starts its drain (0 disables the hook).
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=60
	// +kubebuilder:default=2
	// +optional
	PreStopSeconds *int32 `json:"preStopSeconds,omitempty"`

	// DeleteDrainedAfter is how long a drained ActorVersion is kept (scaled
	// to zero) before the operator deletes it.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('720h')",message="deleteDrainedAfter must be between 0s and 720h"
	// +kubebuilder:default="10m"
	// +optional
	DeleteDrainedAfter *metav1.Duration `json:"deleteDrainedAfter,omitempty"`
}

// RunnerPoolStatus is the observed state of a pool, including the rollout
// plan of each of its versions.
type RunnerPoolStatus struct {
	// ObservedGeneration is the generation the status describes, set after a
	// successful reconcile.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Progressing, Degraded.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// CurrentVersion receives new actors (0: none yet).
	// +optional
	CurrentVersion int64 `json:"currentVersion,omitempty"`

	// LatestVersion is the highest version ever accepted; a new
	// ActorVersion must be higher.
	// +optional
	LatestVersion int64 `json:"latestVersion,omitempty"`

	// Replicas is the number of runner pods of the current version (the
	// /scale status).
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// DesiredReplicas is the number of runners the current version should
	// have.
	// +optional
	DesiredReplicas int32 `json:"desiredReplicas,omitempty"`

	// Actors is the number of awake actors in the pool.
	// +optional
	Actors int32 `json:"actors,omitempty"`

	// Selector selects the current version's runner pods (the /scale
	// selector).
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Selector string `json:"selector,omitempty"`

	// Versions is the rollout plan per version, newest first.
	// +listType=map
	// +listMapKey=version
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Versions []PoolVersionStatus `json:"versions,omitempty"`

	// ScaleDown is the runner being drained before its pod is removed.
	// +optional
	ScaleDown *ScaleDownStatus `json:"scaleDown,omitempty"`

	// Rollout is the latest rollout's progress.
	// +optional
	Rollout *RolloutStatus `json:"rollout,omitempty"`
	// ScaleToZero is the idle tracking of a pool with minReplicas 0.
	// +optional
	ScaleToZero *ScaleToZeroStatus `json:"scaleToZero,omitempty"`
}

// ScaleToZeroStatus is what the operator knows of a pool's idleness.
type ScaleToZeroStatus struct {
	// LastActiveTime is the last time the pool had an awake actor or a
	// request (or due work) waiting for a runner.
	LastActiveTime metav1.Time `json:"lastActiveTime"`
	// LastDemandTime is the last time a request or due work found no live
	// runner in the pool, as the engine recorded it.
	// +optional
	LastDemandTime *metav1.Time `json:"lastDemandTime,omitempty"`
	// ScaledToZero is true from the moment the current version has no
	// runner because the pool is idle until a runner of it is available
	// again.
	// +optional
	ScaledToZero bool `json:"scaledToZero,omitempty"`
}

// PoolVersionStatus is the plan and progress of one version of a pool.
type PoolVersionStatus struct {
	// Version number.
	Version int64 `json:"version"`
	// Name of the ActorVersion.
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Phase of the version.
	Phase ActorVersionPhase `json:"phase"`
	// Rejected is true when the version is not higher than the versions
	// the pool accepted before; it never gets runners.
	// +optional
	Rejected bool `json:"rejected,omitempty"`
	// Replicas the version's Deployment should have.
	Replicas int32 `json:"replicas"`
	// AvailableReplicas of the version's Deployment.
	// +optional
	AvailableReplicas int32 `json:"availableReplicas,omitempty"`
	// Runners registered with the gateway.
	// +optional
	Runners int32 `json:"runners,omitempty"`
	// Actors awake on the version's runners.
	// +optional
	Actors int32 `json:"actors,omitempty"`
	// DrainStartedAt is when the version started draining.
	// +optional
	DrainStartedAt *metav1.Time `json:"drainStartedAt,omitempty"`
	// DrainedAt is when the version had no actors left.
	// +optional
	DrainedAt *metav1.Time `json:"drainedAt,omitempty"`
	// Message explains the phase (why a version is not ready, rejected).
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Message string `json:"message,omitempty"`
}

// ScaleDownStatus is the autoscaler's victim while it drains.
type ScaleDownStatus struct {
	// Version of the victim's Deployment.
	Version int64 `json:"version"`
	// Pod is the victim's pod name.
	// +kubebuilder:validation:MaxLength=253
	Pod string `json:"pod"`
	// RunnerID is the engine's id of the victim.
	// +kubebuilder:validation:MaxLength=253
	RunnerID string `json:"runnerID"`
	// StartedAt is when its drain started.
	StartedAt metav1.Time `json:"startedAt"`
}

// RunnerPool is an autoscaled set of runners of one engine. Code rolls out
// by creating ActorVersions in the pool: each gets a Deployment; the newest
// available one receives new actors and the older ones drain.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas,selectorpath=.status.selector
// +kubebuilder:resource:shortName=rp,categories=rivet
// +kubebuilder:printcolumn:name="Engine",type=string,JSONPath=`.spec.engineRef.name`
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.autoscaling.mode`
// +kubebuilder:printcolumn:name="Current",type=integer,JSONPath=`.status.currentVersion`
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.status.replicas`
// +kubebuilder:printcolumn:name="Actors",type=integer,JSONPath=`.status.actors`
// +kubebuilder:printcolumn:name="Rollout",type=string,JSONPath=`.status.rollout.phase`
// +kubebuilder:printcolumn:name="Step",type=integer,JSONPath=`.status.rollout.step`
// +kubebuilder:printcolumn:name="Ramp",type=integer,JSONPath=`.status.rollout.newActorShare`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 40",message="metadata.name must be at most 40 characters (runner Deployments are named <pool>-v<version>)"
type RunnerPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec RunnerPoolSpec `json:"spec"`
	// +optional
	Status RunnerPoolStatus `json:"status,omitempty"`
}

// RunnerPoolList is a list of RunnerPools.
//
// +kubebuilder:object:root=true
type RunnerPoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RunnerPool `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RunnerPool{}, &RunnerPoolList{})
}
