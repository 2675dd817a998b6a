package controller

import (
	"context"
	"fmt"
	"net"
	"strconv"

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

// adminURL is where the operator reaches an engine's admin API: the
// gateway Service's ClusterIP when the Service has one, else its DNS name.
//
// Decision: by address, not by name. The first admin call of a new engine
// races the creation of its Service; the NXDOMAIN that lookup gets is
// cached by cluster DNS (30 s with kubeadm's CoreDNS settings), which held
// the engine's Ready back by that long (seen in the cluster e2e suite).
func (b *base) adminURL(ctx context.Context, engine *rivetv1.RivetEngine) string {
	if b.Opts.GatewayURLOverride != nil {
		if u := b.Opts.GatewayURLOverride(engine); u != "" {
			return u
		}
	}
	var svc corev1.Service
	if err := b.Get(ctx, types.NamespacedName{Namespace: engine.Namespace, Name: GatewayName(engine)}, &svc); err == nil {
		if u := serviceURL(&svc); u != "" {
			return u
		}
	}
	return Endpoint(engine)
}

// serviceURL is http://<clusterIP>:<first port> ("" for a headless or
// not yet allocated Service).
func serviceURL(svc *corev1.Service) string {
	ip := svc.Spec.ClusterIP
	if ip == "" || ip == corev1.ClusterIPNone || len(svc.Spec.Ports) == 0 {
		return ""
	}
	return "http://" + net.JoinHostPort(ip, strconv.Itoa(int(svc.Spec.Ports[0].Port)))
}

// adminClient returns a client for the engine's admin API.
func (b *base) adminClient(ctx context.Context, engine *rivetv1.RivetEngine) (*admin.Client, error) {
	token, err := b.secretValue(ctx, engine.Namespace, engine.Spec.AdminTokenSecretRef)
	if err != nil {
		return nil, err
	}
	return admin.New(b.adminURL(ctx, engine), token, b.Opts.HTTPClient), nil
}
