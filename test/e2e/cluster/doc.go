// Package cluster is the end-to-end suite on a real Kubernetes cluster: it
// installs the Helm chart with the images under test, applies a
// RivetEngine, a RunnerPool and ActorVersions of the quickstart runner, and
// drives them through the gateway Service with the Go client and the
// official rivetkit JavaScript client: actions and events, a rollout to a
// second version under load, a runner pod deleted under writes,
// autoscaling, a Progressive rollout under load and the automatic rollback
// of a bad version, scale to zero and back on a request, and an uninstall
// that must leave nothing behind.
//
// It takes any kubeconfig (RIVETKUBE_E2E_KUBECONFIG) and skips without one.
// hack/e2e-kind.sh (make test-e2e) and hack/e2e-local.sh (make
// test-e2e-local) create a cluster, build and load the images and run it;
// docs/e2e.md lists every setting. The package has only tests; this file
// holds its documentation.
package cluster
