package local

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/store/boltstore"
)

// TestOpenStoreKeepsBolt: a data dir with a bbolt file opens with bbolt
// (its actors are there), a new one with Pebble, and naming the other
// store than the one a data dir holds is refused.
func TestOpenStoreKeepsBolt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	old := t.TempDir()
	bs, err := boltstore.Open(filepath.Join(old, boltFile), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bs.CreateActor(ctx, store.ActorSpec{ID: "kept", Namespace: "ns", Name: "n"}); err != nil {
		t.Fatal(err)
	}
	if err := bs.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := OpenStore(old, StorePebble); err == nil {
		t.Fatal("OpenStore(pebble) on a bbolt data dir succeeded")
	}
	st, kind, err := OpenStore(old, "")
	if err != nil || kind != StoreBolt {
		t.Fatalf("OpenStore(bbolt data dir) = %q, %v; want bolt", kind, err)
	}
	if _, err := st.GetActor(ctx, "kept"); err != nil {
		t.Fatalf("actor of the bbolt file: %v", err)
	}
	_ = st.Close()

	fresh := t.TempDir()
	st, kind, err = OpenStore(fresh, "")
	if err != nil || kind != StorePebble {
		t.Fatalf("OpenStore(new data dir) = %q, %v; want pebble", kind, err)
	}
	_ = st.Close()
	if _, _, err := OpenStore(fresh, StoreBolt); err == nil {
		t.Fatal("OpenStore(bolt) on a Pebble data dir succeeded")
	}
	if _, _, err := OpenStore(t.TempDir(), "sqlite"); err == nil {
		t.Fatal("OpenStore(unknown kind) succeeded")
	}
	st, kind, err = OpenStore(t.TempDir(), StoreBolt)
	if err != nil || kind != StoreBolt {
		t.Fatalf("OpenStore(new, bolt) = %q, %v", kind, err)
	}
	_ = st.Close()
}
