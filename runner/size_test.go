package runner

import (
	"testing"
	"unsafe"
)

// An awake actor keeps its Instance for as long as it is awake: at
// 100,000 awake actors each 64 bytes is 6 MiB (issue 16, target 4). The
// struct fits the 576-byte size class on 64-bit platforms; a field that
// most actors never use belongs behind a pointer made on first use.
func TestInstanceSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sizes are checked on 64-bit platforms")
	}
	if n := unsafe.Sizeof(Instance{}); n > 576 {
		t.Fatalf("Instance is %d bytes, over the 576-byte size class", n)
	}
	if n := unsafe.Sizeof(pump{}); n > 128 {
		t.Fatalf("pump is %d bytes, over the 128-byte size class", n)
	}
}
