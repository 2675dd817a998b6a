// Package pgtest starts a throwaway PostgreSQL server for tests.
//
// Start runs initdb on a fresh temporary directory with the server binaries
// of /usr/lib/postgresql/15/bin (or $RIVETKUBE_PG_BIN), starts postgres on a
// free 127.0.0.1 port with its unix socket inside that directory, waits
// until the server logs that it accepts connections, and returns a URL. The
// server keeps its production durability settings (fsync on). t.Cleanup
// stops the server and removes the directory. Launch does the same outside
// a test (for benchmarks and tools); its caller stops the server with Stop.
// StartServerWith and LaunchWith take Options: extra listen addresses and
// networks trusted without a password, so that pods of a local cluster can
// reach a server on the host (the cluster e2e suite, test/e2e/cluster).
//
// Invariants:
//   - A test skips only when the binaries are missing and the environment
//     variable RIVETKUBE_REQUIRE_PG is unset; with it set, missing binaries
//     or a failed start fail the test.
//   - PostgreSQL refuses to run as root, so under root the server runs as the
//     user "postgres" (or "nobody" when that user does not exist), which
//     owns the temporary directory.
package pgtest
