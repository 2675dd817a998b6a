package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// GetConditions returns the engine's conditions.
func (in *RivetEngine) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the engine's conditions.
func (in *RivetEngine) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// GetConditions returns the pool's conditions.
func (in *RunnerPool) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the pool's conditions.
func (in *RunnerPool) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// GetConditions returns the version's conditions.
func (in *ActorVersion) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the version's conditions.
func (in *ActorVersion) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }
