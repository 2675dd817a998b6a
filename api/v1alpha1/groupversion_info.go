// Package v1alpha1 contains the rivetkube.dev/v1alpha1 API: RivetEngine (the
// gateway and its PostgreSQL), RunnerPool (an autoscaled set of runners) and
// ActorVersion (one version of the user's runner program in a pool).
//
// +kubebuilder:object:generate=true
// +groupName=rivetkube.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of these types.
	GroupVersion = schema.GroupVersion{Group: "rivetkube.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this group-version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
