// Package plan computes the rollout of a RunnerPool as a pure function:
// Plan(desired, observed) returns, for every ActorVersion of the pool, its
// phase and replica count, the version routing the gateway should have, the
// autoscaler's next step and when to look again. It does no I/O and reads
// no clock: the controller gathers the observation (ActorVersions,
// Deployments, pods, the gateway's pool status, the previous plan from the
// pool's status, Now) and executes the result.
//
// Invariants:
//   - A version is accepted once, when it is higher than every version the
//     pool accepted before (Observed.LatestVersion); a version that is not
//     is rejected for good and gets no runners.
//   - The current version is the newest accepted, non-deleting version whose
//     Deployment is available; it only changes to a newer one, except when
//     the current version is being deleted or a rollout is rolled back.
//   - Routing is ready=[current], draining=every older (or deleting)
//     accepted version still present. Nothing is routed before a version is
//     available.
//   - With a Progressive or Manual strategy (Desired.Rollout, Rollout in
//     rollout.go, joined to Plan in ramp.go) the version taking over ramps
//     beside the stable one, which stays current: routing ready=[new,
//     stable] with the ramp's shares; a failed health gate makes the stable
//     version current again and the new one drain, and a rolled-back
//     version is never current again.
//   - A version is Drained only after the gateway confirmed it draining and
//     reported no actors on it (or when nothing can receive its actors);
//     Drained is final: 0 replicas, deleted after DeleteDrainedAfter.
//   - The autoscaler removes one runner at a time and only after the gateway
//     drained it (or the drain timed out); it never scales a version that is
//     not current, nor during a ramp.
//   - Scale to zero (zero.go): with MinReplicas 0 the current version keeps
//     one runner until the pool has been idle (no awake actor, no demand)
//     for ScaleToZeroAfter, then goes to zero; demand newer than the last
//     activity brings one runner back in the same plan. Routing is never
//     changed by it.
package plan
