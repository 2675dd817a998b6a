package pebblestore

import (
	"testing"

	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/store/storetest"
)

// BenchmarkCommitter measures group commit over the Pebble store; see
// storetest.BenchCommitter for the sub-benchmarks and metrics.
func BenchmarkCommitter(b *testing.B) {
	storetest.BenchCommitter(b, func(b *testing.B) store.Store { return openTemp(b) })
}
