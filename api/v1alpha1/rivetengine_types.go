package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RivetEngineSpec is the desired state of an engine: the gateway Deployment
// in front of one PostgreSQL database.
type RivetEngineSpec struct {
	// Postgres is where the engine keeps everything that must survive.
	// +required
	Postgres PostgresSpec `json:"postgres"`

	// Gateway configures the gateway Deployment and Service.
	// +required
	Gateway GatewaySpec `json:"gateway"`

	// AdminTokenSecretRef holds the bearer token of the gateway's admin API,
	// which the operator uses to route versions and drain runners.
	// +required
	AdminTokenSecretRef SecretKeyRef `json:"adminTokenSecretRef"`

	// InspectorTokenSecretRef holds the token that guards the actor
	// inspector API. Without it the inspector is disabled.
	// +optional
	InspectorTokenSecretRef *SecretKeyRef `json:"inspectorTokenSecretRef,omitempty"`

	// ClientTokensSecretRef holds the client tokens (comma-separated, each
	// 16 to 1024 characters) every /actors and /gateway request must carry.
	// Without it the gateway is open to whoever reaches it.
	// +optional
	ClientTokensSecretRef *SecretKeyRef `json:"clientTokensSecretRef,omitempty"`

	// RunnerTokenSecretRef holds the token gateways present to runners on
	// their link. When unset the operator generates one in the Secret
	// "<engine>-runner-token".
	// +optional
	RunnerTokenSecretRef *SecretKeyRef `json:"runnerTokenSecretRef,omitempty"`

	// Limits bound the engine's timeouts and sizes.
	// +kubebuilder:default={}
	// +optional
	Limits EngineLimits `json:"limits,omitempty"`
}

// PostgresSpec locates the PostgreSQL database.
type PostgresSpec struct {
	// URLSecretRef holds a PostgreSQL connection URL
	// (postgres://user:password@host:5432/db?sslmode=...).
	// +required
	URLSecretRef SecretKeyRef `json:"urlSecretRef"`

	// MaxConns bounds each gateway's connection pool.
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=1000
	// +kubebuilder:default=32
	// +optional
	MaxConns int32 `json:"maxConns,omitempty"`
}

// GatewaySpec configures the gateway Deployment and its Service.
type GatewaySpec struct {
	// Image of the gateway (the cmd/gateway binary).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +required
	Image string `json:"image"`

	// ImagePullPolicy of the gateway containers.
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// Replicas of the gateway. Any replica serves any request.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=2
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// Resources of the gateway container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// Service exposes the gateway to clients and runners.
	// +kubebuilder:default={}
	// +optional
	Service GatewayServiceSpec `json:"service,omitempty"`

	// LogFormat of the gateway: json or text.
	// +kubebuilder:validation:Enum=json;text
	// +kubebuilder:default=json
	// +optional
	LogFormat string `json:"logFormat,omitempty"`

	// CORSOrigins are the browser origins allowed to call the gateway with
	// credentials, like "https://app.example.com" or
	// "https://*.example.com"; "*" allows any origin. Empty allows the
	// gateway's own origin only.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:items:Pattern=`^(\*|https?://[^/?#@,\s]+)$`
	// +listType=set
	// +optional
	CORSOrigins []string `json:"corsOrigins,omitempty"`
}

// GatewayServiceSpec configures the gateway Service.
type GatewayServiceSpec struct {
	// Type of the Service.
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	// +kubebuilder:default=ClusterIP
	// +optional
	Type corev1.ServiceType `json:"type,omitempty"`

	// Port the Service listens on.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +kubebuilder:default=6420
	// +optional
	Port int32 `json:"port,omitempty"`

	// Annotations added to the Service (for load balancer settings).
	// +kubebuilder:validation:MaxProperties=32
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// EngineLimits bounds the engine's timeouts and sizes. Runners of the
// engine's pools get the same lease.
type EngineLimits struct {
	// Lease is how long a runner may miss heartbeats before its actors move.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('500ms') && duration(self) <= duration('10m')",message="lease must be between 500ms and 10m"
	// +kubebuilder:default="5s"
	// +optional
	Lease *metav1.Duration `json:"lease,omitempty"`

	// WaitTimeout bounds how long a request waits for its actor (during a
	// drain or a runner failure) before it fails.
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('10m')",message="waitTimeout must be positive and at most 10m"
	// +kubebuilder:default="30s"
	// +optional
	WaitTimeout *metav1.Duration `json:"waitTimeout,omitempty"`

	// ColdStartTimeout bounds how long a request for a pool without a live
	// runner (a pool scaled to zero) waits for one before it fails with
	// actor/not_ready. Keep it below the timeout of any proxy in front of
	// the gateway.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('10m')",message="coldStartTimeout must be between 1s and 10m"
	// +kubebuilder:default="60s"
	// +optional
	ColdStartTimeout *metav1.Duration `json:"coldStartTimeout,omitempty"`

	// MaxMessageSize bounds one client message (bytes).
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=1073741824
	// +optional
	MaxMessageSize *int64 `json:"maxMessageSize,omitempty"`
}

// RivetEngineStatus is the observed state of an engine.
type RivetEngineStatus struct {
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

	// Endpoint is the URL clients and runners use inside the cluster.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// Replicas is the number of gateway pods.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// ReadyReplicas is the number of gateway pods ready to serve.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
}

// RivetEngine runs the gateway of a rivetkube engine: a Deployment of
// stateless gateway replicas in front of PostgreSQL, its Service and its
// configuration. Schema migrations run before a gateway serves.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=re,categories=rivet
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.status.readyReplicas`
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.status.endpoint`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 48",message="metadata.name must be at most 48 characters (children are named <name>-gateway)"
type RivetEngine struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec RivetEngineSpec `json:"spec"`
	// +optional
	Status RivetEngineStatus `json:"status,omitempty"`
}

// RivetEngineList is a list of RivetEngines.
//
// +kubebuilder:object:root=true
type RivetEngineList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RivetEngine `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RivetEngine{}, &RivetEngineList{})
}
