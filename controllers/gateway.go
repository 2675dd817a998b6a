package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
	"github.com/rivetkube/rivetkube/internal/admin"
)

// errSecret says a referenced Secret or key is missing.
type errSecret struct {
	ref rivetv1.SecretKeyRef
	err error
}

func (e *errSecret) Error() string {
	if e.err != nil {
		return fmt.Sprintf("secret %s: %v", e.ref.Name, e.err)
	}
	return fmt.Sprintf("secret %s has no key %q", e.ref.Name, e.ref.Key)
}

func (e *errSecret) Unwrap() error { return e.err }

// secretValue reads one key of a Secret in ns.
func (b *base) secretValue(ctx context.Context, ns string, ref rivetv1.SecretKeyRef) (string, error) {
	var s corev1.Secret
	if err := b.APIReader.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return "", &errSecret{ref: ref, err: err}
		}
		return "", fmt.Errorf("read secret %s: %w", ref.Name, err)
	}
	v, ok := s.Data[ref.Key]
	if !ok || len(v) == 0 {
		return "", &errSecret{ref: ref}
	}
	return string(v), nil
}

// adminURL is where the operator reaches an engine's admin API.
func (b *base) adminURL(engine *rivetv1.RivetEngine) string {
	if b.Opts.GatewayURLOverride != nil {
		if u := b.Opts.GatewayURLOverride(engine); u != "" {
			return u
		}
	}
	return Endpoint(engine)
}

// adminClient returns a client for the engine's admin API.
func (b *base) adminClient(ctx context.Context, engine *rivetv1.RivetEngine) (*admin.Client, error) {
	token, err := b.secretValue(ctx, engine.Namespace, engine.Spec.AdminTokenSecretRef)
	if err != nil {
		return nil, err
	}
	return admin.New(b.adminURL(engine), token, b.Opts.HTTPClient), nil
}
