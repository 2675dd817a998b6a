package v1alpha1

// Condition types shared by the kinds of this group.
const (
	// ConditionReady is True when the object does its job: the gateway
	// serves, the pool's current version has available runners, the version
	// receives new actors or is ready to.
	ConditionReady = "Ready"
	// ConditionProgressing is True while the operator moves the object
	// towards its spec (a rollout, a scale, a drain).
	ConditionProgressing = "Progressing"
	// ConditionDegraded is True when something needs a human: an invalid
	// spec, a missing Secret, an unreachable gateway, a failed rollout.
	ConditionDegraded = "Degraded"
	// ConditionDraining is True on an ActorVersion whose actors are being
	// moved to a newer version.
	ConditionDraining = "Draining"
)

// SecretKeyRef selects one key of a Secret in the object's namespace.
type SecretKeyRef struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
	// Key in the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +required
	Key string `json:"key"`
}

// LocalRef names an object of a known kind in the same namespace.
type LocalRef struct {
	// Name of the object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +required
	Name string `json:"name"`
}
