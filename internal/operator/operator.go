// Package operator wires the rivetkube operator's manager: scheme, cache
// limited to the operator's own children, leader election, Prometheus
// metrics, health probes and the reconcilers of controllers.
package operator

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
	"github.com/rivetkube/rivetkube/controllers"
)

// Config is the operator's configuration (flags).
type Config struct {
	MetricsAddr      string
	ProbeAddr        string
	LeaderElect      bool
	LeaderElectionNS string
	// Namespace limits the operator to one namespace ("" watches all).
	Namespace  string
	ActivePoll time.Duration
	IdlePoll   time.Duration
	Logger     logr.Logger
	// RestConfig overrides the kubeconfig lookup (tests).
	RestConfig *rest.Config
	// Controller options beyond the flags (tests).
	Controller controller.Options
}

// BindFlags registers the flags.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.MetricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint (0 disables it)")
	fs.StringVar(&c.ProbeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.BoolVar(&c.LeaderElect, "leader-elect", false, "elect a leader so only one replica reconciles")
	fs.StringVar(&c.LeaderElectionNS, "leader-election-namespace", "", "namespace of the leader election Lease (default: the pod's)")
	fs.StringVar(&c.Namespace, "namespace", "", "watch only this namespace (default: all)")
	fs.DurationVar(&c.ActivePoll, "active-poll", 2*time.Second, "how often a pool is planned while a rollout, drain or scale moves")
	fs.DurationVar(&c.IdlePoll, "idle-poll", 15*time.Second, "how often a settled pool is planned (autoscaling reads actor counts)")
}

// Scheme returns the scheme with the built-in kinds and rivetkube.dev.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(rivetv1.AddToScheme(s))
	return s
}

// NewManager builds the manager with the reconcilers registered.
func NewManager(cfg Config) (ctrl.Manager, error) {
	ctrl.SetLogger(cfg.Logger)
	rc := cfg.RestConfig
	if rc == nil {
		var err error
		if rc, err = ctrl.GetConfig(); err != nil {
			return nil, fmt.Errorf("kubeconfig: %w", err)
		}
	}
	mgr, err := ctrl.NewManager(rc, ctrl.Options{
		Scheme:                        Scheme(),
		Cache:                         controller.CacheOptions(cfg.Namespace),
		Metrics:                       metricsserver.Options{BindAddress: cfg.MetricsAddr},
		HealthProbeBindAddress:        cfg.ProbeAddr,
		LeaderElection:                cfg.LeaderElect,
		LeaderElectionID:              "operator.rivetkube.dev",
		LeaderElectionNamespace:       cfg.LeaderElectionNS,
		LeaderElectionReleaseOnCancel: true,
		Logger:                        cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("new manager: %w", err)
	}
	if err := errors.Join(
		mgr.AddHealthzCheck("healthz", healthz.Ping),
		mgr.AddReadyzCheck("readyz", healthz.Ping),
	); err != nil {
		return nil, fmt.Errorf("health checks: %w", err)
	}
	opts := cfg.Controller
	opts.ActivePoll, opts.IdlePoll = orDur(opts.ActivePoll, cfg.ActivePoll), orDur(opts.IdlePoll, cfg.IdlePoll)
	if err := controller.Setup(context.Background(), mgr, opts); err != nil {
		return nil, err
	}
	return mgr, nil
}

// Run runs the operator until SIGTERM or SIGINT.
func Run(cfg Config) error {
	mgr, err := NewManager(cfg)
	if err != nil {
		return err
	}
	cfg.Logger.Info("starting operator", "namespace", cfg.Namespace, "leaderElection", cfg.LeaderElect)
	return mgr.Start(ctrl.SetupSignalHandler())
}

func orDur(a, b time.Duration) time.Duration {
	if a > 0 {
		return a
	}
	return b
}
