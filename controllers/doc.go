// Package controller holds the operator's reconcilers: RivetEngine (gateway
// Deployment, Service, configuration), RunnerPool (rollout planning,
// version routing, autoscaling) and ActorVersion (one runner Deployment per
// version, drain before deletion).
//
// Every reconciler has the same shape: Get (NotFound → done) → finalizer →
// a deferred single status patch (patchStatus) → ordered phases →
// conditions. observedGeneration moves only after a pass that succeeded.
//
// Ownership (one writer per field):
//   - RivetEngine reconciler: the gateway's Deployment, Service, ConfigMap,
//     generated runner-token Secret, and RivetEngine status.
//   - RunnerPool reconciler: the gateway's routing of the pool (admin API,
//     with the ramp of a Progressive or Manual rollout), runner draining
//     marks, pod deletion costs, deletion of drained ActorVersions, and
//     RunnerPool status, which carries the plan of every version (phase,
//     replicas) and the latest rollout (status.rollout, the planner's
//     memory of the strategy; runnerpool_rollout.go).
//   - ActorVersion reconciler: the version's Deployment (template and the
//     replicas the pool planned), its finalizer, and ActorVersion status
//     (projected from the pool's plan and the Deployment).
package controller
