package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rivetkube/rivetkube/internal/store/boltstore"
	"github.com/rivetkube/rivetkube/internal/store/pebblestore"
)

// The embedded stores, as Config.Store and RIVETKUBE_STORE name them.
const (
	StorePebble = "pebble"
	StoreBolt   = "bolt"
)

// Where each embedded store keeps its data inside the data directory.
const (
	boltFile  = "rivetkube.db"     // bbolt: one file
	pebbleDir = "rivetkube.pebble" // Pebble: a directory
)

// OpenStore opens the embedded store in dataDir (creating the directory).
// kind is StorePebble, StoreBolt or "": the store the data directory
// already holds, Pebble for a new one. A bbolt file left by an earlier
// version therefore keeps opening with bbolt. Naming a kind other than the
// one the directory holds is an error rather than a new, empty store.
// It returns the kind it opened.
func OpenStore(dataDir, kind string) (*boltstore.Store, string, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, "", fmt.Errorf("create data dir: %w", err)
	}
	hasBolt, err := exists(filepath.Join(dataDir, boltFile))
	if err != nil {
		return nil, "", err
	}
	hasPebble := pebblestore.IsPebbleDir(filepath.Join(dataDir, pebbleDir))
	switch kind {
	case "":
		if hasBolt && hasPebble {
			return nil, "", fmt.Errorf("data dir %s holds both a bbolt and a Pebble store: set RIVETKUBE_STORE", dataDir)
		}
		kind = StorePebble
		if hasBolt {
			kind = StoreBolt
		}
	case StorePebble:
		if hasBolt && !hasPebble {
			return nil, "", fmt.Errorf("data dir %s holds a bbolt store (%s): open it with the bolt store (RIVETKUBE_STORE=bolt or unset)", dataDir, boltFile)
		}
	case StoreBolt:
		if hasPebble && !hasBolt {
			return nil, "", fmt.Errorf("data dir %s holds a Pebble store (%s): open it with the pebble store (RIVETKUBE_STORE=pebble or unset)", dataDir, pebbleDir)
		}
	default:
		return nil, "", fmt.Errorf("unknown store %q: want %s or %s", kind, StorePebble, StoreBolt)
	}
	var st *boltstore.Store
	if kind == StoreBolt {
		st, err = boltstore.Open(filepath.Join(dataDir, boltFile), boltstore.Options{})
	} else {
		st, err = pebblestore.Open(filepath.Join(dataDir, pebbleDir), pebblestore.Options{WarmWAL: true})
	}
	if err != nil {
		return nil, "", fmt.Errorf("open %s store: %w", kind, err)
	}
	return st, kind, nil
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}
