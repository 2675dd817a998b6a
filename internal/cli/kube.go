package cli

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
)

// kube returns a client for the cluster of the kubeconfig (--kubeconfig,
// $KUBECONFIG, ~/.kube/config; --context) and the namespace to use (-n,
// else the context's, else "default").
func (r *runner) kube() (client.Client, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = r.o.kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: r.o.kubeContext})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", failedErr("kubeconfig: %v", err)
	}
	cfg.Timeout = r.o.requestTimeout
	cfg.UserAgent = "rivetkube-cli"
	ns := r.o.namespace
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil {
			return nil, "", failedErr("kubeconfig namespace: %v", err)
		}
	}
	s := runtime.NewScheme()
	if err := rivetv1.AddToScheme(s); err != nil {
		return nil, "", fmt.Errorf("scheme: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		return nil, "", fmt.Errorf("kubernetes client for %s: %w", cfg.Host, err)
	}
	return c, ns, nil
}
