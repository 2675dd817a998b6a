package pagedb

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/util/vfsutil"
	"github.com/ncruces/go-sqlite3/vfs"
)

// vfsName is the name the VFS is registered under with SQLite.
const vfsName = "rivetkube-pagedb"

var (
	registerOnce sync.Once
	files        sync.Map // name → *file, while its DB is open
	nextName     atomic.Uint64
)

// register makes f openable by SQLite under a fresh name and returns it.
func register(f *file) string {
	registerOnce.Do(func() { vfs.Register(vfsName, pageVFS{}) })
	name := "db-" + strconv.FormatUint(nextName.Add(1), 10)
	files.Store(name, f)
	return name
}

func unregister(name string) { files.Delete(name) }

// pageVFS opens the registered page files as main databases and keeps
// every other file SQLite asks for (temp databases, sorter spills) in
// memory. With journal_mode=MEMORY SQLite opens no journal file.
type pageVFS struct{}

func (pageVFS) Open(name string, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	if flags&vfs.OPEN_MAIN_DB != 0 {
		f, ok := files.Load(strings.TrimPrefix(name, "/"))
		if !ok {
			return nil, flags, sqlite3.CANTOPEN
		}
		return f.(*file), flags | vfs.OPEN_MEMORY, nil
	}
	const scratch = vfs.OPEN_TEMP_DB | vfs.OPEN_TRANSIENT_DB | vfs.OPEN_TEMP_JOURNAL | vfs.OPEN_SUBJOURNAL
	if flags&scratch != 0 {
		return &vfsutil.SliceFile{}, flags | vfs.OPEN_MEMORY, nil
	}
	// A main journal, WAL or super-journal: never wanted, since the
	// journal lives in memory.
	return nil, flags, sqlite3.CANTOPEN
}

func (pageVFS) Delete(string, bool) error { return sqlite3.IOERR_DELETE_NOENT }

func (pageVFS) Access(string, vfs.AccessFlag) (bool, error) { return false, nil }

func (pageVFS) FullPathname(name string) (string, error) { return name, nil }
