//go:build unix

package e2e

import (
	"path/filepath"
	"testing"

	"github.com/rivetkube/rivetkube/internal/testutil/jssuite"
)

// TestJSClient runs the conformance suite in test/js (the official rivetkit
// JavaScript client, in the bare, json and cbor encodings) against a freshly
// started fixture engine. The suite needs Node.js and `npm ci` in test/js; if
// its node_modules is missing the test is skipped, or fails when
// RIVETKUBE_REQUIRE_JS=1.
func TestJSClient(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("..", "js"))
	if err != nil {
		t.Fatal(err)
	}
	jssuite.Available(t, dir)
	jssuite.Run(t, dir, startEngine(t).Endpoint)
}
