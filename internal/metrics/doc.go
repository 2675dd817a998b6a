// Package metrics defines rivetkube's Prometheus collectors, one file per
// room (gateway, router, runner, store), and the metrics listener.
//
// Invariants:
//   - Every collector is registered on a per-process *prometheus.Registry
//     made by NewRegistry, never on the global default registry: one Go
//     process may run a gateway and a runner (bench/pg, tests), and each
//     must be scraped on its own listener without name clashes.
//   - Label values come from small fixed sets (routes, outcomes, reasons,
//     frame kinds) or from configuration (pools, versions); actor ids,
//     keys and names never become labels.
//   - Every method is safe on a nil receiver and then does nothing, so a
//     component configured without metrics (tests, older callers) needs no
//     checks of its own.
package metrics
