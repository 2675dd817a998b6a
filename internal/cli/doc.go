// Package cli is the rivetkube command-line tool: actor commands against an
// engine's REST, gateway and inspector APIs, status and rollout commands
// against Kubernetes, and `dev`, which runs a registry package with the
// local engine and restarts it when its files change. cmd/rivetkube is a
// thin main over Run; the same binary works as the kubectl plugin
// `kubectl rivet` when it is installed as kubectl-rivet.
//
// Invariants:
//   - Run never calls os.Exit and writes only to the writers it is given;
//     its result is one of the Exit* codes, so scripts can branch on it.
//   - Results go to stdout, diagnostics and errors to stderr; with -o json
//     stdout holds only JSON (one document, or one per line for
//     `rollout status`).
//   - Every network call is bounded by --request-timeout (engine) or the
//     command's own --timeout (rollout status); nothing waits forever.
//   - Flags use the standard library's flag package (no new dependency);
//     flags may follow the positional arguments, and "--" ends them.
package cli
