package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ActorVersionPhase is where a version is in its rollout.
// +kubebuilder:validation:Enum=Pending;Ready;Ramping;Current;Draining;Drained
type ActorVersionPhase string

const (
	// PhasePending: the version's Deployment is not available yet (or the
	// version was rejected; see the Degraded condition).
	PhasePending ActorVersionPhase = "Pending"
	// PhaseReady: available and the newest; the gateway is being told to
	// route new actors to it.
	PhaseReady ActorVersionPhase = "Ready"
	// PhaseRamping: a Progressive or Manual rollout places a share of new
	// actors on it and moves a share of existing ones to it.
	PhaseRamping ActorVersionPhase = "Ramping"
	// PhaseCurrent: the newest available version; new actors go here.
	PhaseCurrent ActorVersionPhase = "Current"
	// PhaseDraining: its actors are moving to the current version.
	PhaseDraining ActorVersionPhase = "Draining"
	// PhaseDrained: no actors left; scaled to zero and deleted after the
	// pool's deleteDrainedAfter.
	PhaseDrained ActorVersionPhase = "Drained"
)

// ActorVersionSpec is one version of the runner program of a pool.
type ActorVersionSpec struct {
	// PoolRef names the RunnerPool (same namespace).
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="poolRef is immutable"
	// +required
	PoolRef LocalRef `json:"poolRef"`

	// Version is a positive integer, higher than every version the pool has
	// accepted before. To roll back, create a newer version with the old
	// image.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=999999999999
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="version is immutable; create a new ActorVersion instead"
	// +required
	Version int64 `json:"version"`

	// Image of the runner program.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +required
	Image string `json:"image"`

	// ImagePullPolicy overrides the pool template's.
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// Args override the runner container's args.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=4096
	// +optional
	Args []string `json:"args,omitempty"`

	// Env is added to (and overrides) the runner container's environment.
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=name
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`

	// Resources override the runner container's resources.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
}

// ActorVersionStatus is the observed state of a version.
type ActorVersionStatus struct {
	// ObservedGeneration is the generation the status describes, set after a
	// successful reconcile.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Progressing, Degraded, Draining.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Phase of the version in its pool's rollout.
	// +optional
	Phase ActorVersionPhase `json:"phase,omitempty"`

	// Deployment is the name of the version's runner Deployment.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Deployment string `json:"deployment,omitempty"`

	// Replicas of the version's Deployment; AvailableReplicas of them serve.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// +optional
	AvailableReplicas int32 `json:"availableReplicas,omitempty"`

	// Runners of this version registered with the gateway.
	// +optional
	Runners int32 `json:"runners,omitempty"`

	// Actors awake on this version's runners.
	// +optional
	Actors int32 `json:"actors,omitempty"`

	// DrainStartedAt is when the version started draining.
	// +optional
	DrainStartedAt *metav1.Time `json:"drainStartedAt,omitempty"`

	// DrainedAt is when the version had no actors left.
	// +optional
	DrainedAt *metav1.Time `json:"drainedAt,omitempty"`
}

// ActorVersion is one version of a pool's runner program: it gets its own
// runner Deployment; once available and newest it receives new actors, and
// when a newer version takes over it drains and is scaled to zero.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=av,categories=rivet
// +kubebuilder:printcolumn:name="Pool",type=string,JSONPath=`.spec.poolRef.name`
// +kubebuilder:printcolumn:name="Version",type=integer,JSONPath=`.spec.version`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Runners",type=integer,JSONPath=`.status.availableReplicas`
// +kubebuilder:printcolumn:name="Actors",type=integer,JSONPath=`.status.actors`
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.spec.image`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ActorVersion struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec ActorVersionSpec `json:"spec"`
	// +optional
	Status ActorVersionStatus `json:"status,omitempty"`
}

// ActorVersionList is a list of ActorVersions.
//
// +kubebuilder:object:root=true
type ActorVersionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ActorVersion `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ActorVersion{}, &ActorVersionList{})
}
