package pagedb

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// zeroPage is the content of a page the Source does not hold. Never
// written to: writes copy into fresh buffers.
var zeroPage = make([]byte, PageSize)

// pinned is a taken page waiting for Committed.
type pinned struct {
	data []byte
	seq  uint64
}

// file is the database file SQLite sees. mu guards every field: the
// actor's goroutine drives SQLite while the committer calls committed.
type file struct {
	mu   sync.Mutex
	src  Source
	opts Options
	ctx  context.Context // for Source reads; set per task

	size     int64  // bytes, as SQLite sees it (open batch included)
	srcLimit uint32 // pages numbered above it are absent from the stored view

	batch     map[uint32][]byte // open atomic batch; nil when none
	batchSize int64             // size when the batch began

	dirty     map[uint32][]byte // written since the last take
	truncated bool              // a truncate happened since the last take
	truncTo   uint32            // the smallest page count truncated to

	inflight map[uint32]pinned // taken, not yet committed
	cache    *lru              // clean pages
	seq      uint64            // of the last take

	lock     vfs.LockLevel
	limitErr error // the limit the last failed write hit
	readErr  error // the Source error the last failed read hit

	lastMiss uint32 // last page a fetch returned, for read-ahead
	window   int    // current read-ahead window

	fetches, pagesRead int64
	batches            int64 // atomic batches committed
}

func newFile(src Source, opts Options, count uint32) *file {
	return &file{
		src:      src,
		opts:     opts,
		ctx:      context.Background(),
		size:     int64(count) * PageSize,
		srcLimit: count,
		dirty:    make(map[uint32][]byte),
		inflight: make(map[uint32]pinned),
		cache:    newLRU(opts.CachePages),
		window:   1,
	}
}

// page returns the visible content of page no (PageSize bytes, not to be
// modified), fetching it from the Source on a miss.
func (f *file) page(no uint32) ([]byte, error) {
	if d, ok := f.batch[no]; ok {
		return d, nil
	}
	if d, ok := f.dirty[no]; ok {
		return d, nil
	}
	if p, ok := f.inflight[no]; ok {
		return p.data, nil
	}
	if d, ok := f.cache.get(no); ok {
		return d, nil
	}
	if no > f.srcLimit {
		return zeroPage, nil
	}
	return f.fetch(no)
}

// fetch reads page no from the Source, with the pages after it when the
// reads look sequential, and caches what it read.
func (f *file) fetch(no uint32) ([]byte, error) {
	if no == f.lastMiss+1 {
		f.window = min(max(2*f.window, 2), f.opts.ReadAhead)
	} else {
		f.window = 1
	}
	to := min(uint64(no)+uint64(f.window), uint64(f.srcLimit)+1)
	pages, _, err := f.src.ReadPages(f.ctx, no, uint32(to))
	if err != nil {
		f.readErr = fmt.Errorf("read pages %d..%d: %w", no, to-1, err)
		return nil, sqlite3.IOERR_READ
	}
	f.fetches++
	f.pagesRead += int64(len(pages))
	f.lastMiss = uint32(to - 1)
	out := zeroPage
	for _, p := range pages {
		if len(p.Data) != PageSize || p.No < no || uint64(p.No) >= to {
			f.readErr = fmt.Errorf("read pages %d..%d: page %d of %d bytes: %w", no, to-1, p.No, len(p.Data), ErrCorrupt)
			return nil, sqlite3.IOERR_READ
		}
		if p.No == no {
			out = p.Data
		}
		if _, ok := f.dirty[p.No]; ok {
			continue
		}
		if _, ok := f.inflight[p.No]; ok {
			continue
		}
		f.cache.put(p.No, p.Data)
	}
	return out, nil
}

// span calls fn for each page-sized piece of [off, off+n): the page
// number, the offset within the page and the piece's length.
func span(off int64, n int, fn func(no uint32, at, m, done int) error) error {
	done := 0
	for done < n {
		pos := off + int64(done)
		at := int(pos % PageSize)
		m := min(PageSize-at, n-done)
		if err := fn(uint32(pos/PageSize)+1, at, m, done); err != nil {
			return err
		}
		done += m
	}
	return nil
}

func (f *file) ReadAt(b []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for n < len(b) {
		pos := off + int64(n)
		if pos >= f.size {
			clear(b[n:])
			return n, io.EOF
		}
		at := int(pos % PageSize)
		m := int(min(int64(PageSize-at), int64(len(b)-n), f.size-pos))
		data, err := f.page(uint32(pos/PageSize) + 1)
		if err != nil {
			return n, err
		}
		n += copy(b[n:n+m], data[at:at+m])
	}
	return n, nil
}

func (f *file) WriteAt(b []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	err := span(off, len(b), func(no uint32, at, m, done int) error {
		end := off + int64(done) + int64(m)
		if end > f.opts.MaxSize {
			f.limitErr = fmt.Errorf("database would grow past %d bytes: %w", f.opts.MaxSize, ErrTooLarge)
			return sqlite3.FULL
		}
		cur, err := f.page(no)
		if err != nil {
			return err
		}
		piece := b[done : done+m]
		grows := end > f.size
		if !grows && bytes.Equal(cur[at:at+m], piece) {
			n += m // unchanged: nothing to store
			return nil
		}
		if !f.known(no) && f.dirtyCount()+1 > f.opts.MaxDirtyPages {
			f.limitErr = fmt.Errorf("a commit would hold more than %d dirty pages: %w", f.opts.MaxDirtyPages, ErrTooManyDirty)
			return sqlite3.FULL
		}
		data := slices.Clone(cur)
		copy(data[at:], piece)
		if f.batch != nil {
			f.batch[no] = data
		} else {
			f.dirty[no] = data
		}
		if grows {
			f.size = end
		}
		n += m
		return nil
	})
	return n, err
}

// known reports whether page no already counts toward the dirty limit.
func (f *file) known(no uint32) bool {
	if _, ok := f.dirty[no]; ok {
		return true
	}
	_, ok := f.batch[no]
	return ok
}

func (f *file) dirtyCount() int {
	n := len(f.dirty)
	for no := range f.batch {
		if _, ok := f.dirty[no]; !ok {
			n++
		}
	}
	return n
}

func (f *file) Truncate(size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if size >= f.size {
		if size > f.opts.MaxSize {
			f.limitErr = fmt.Errorf("database would grow past %d bytes: %w", f.opts.MaxSize, ErrTooLarge)
			return sqlite3.FULL
		}
		// Growing: the new pages read as zeros; store them so the stored
		// size (the highest page) follows.
		for no := uint32((f.size+PageSize-1)/PageSize) + 1; int64(no-1)*PageSize < size; no++ {
			f.dirty[no] = make([]byte, PageSize)
		}
		f.size = size
		return nil
	}
	n := uint32((size + PageSize - 1) / PageSize)
	for _, m := range []map[uint32][]byte{f.dirty, f.batch} {
		for no := range m {
			if no > n {
				delete(m, no)
			}
		}
	}
	for no := range f.inflight {
		if no > n {
			delete(f.inflight, no)
		}
	}
	f.cache.dropAbove(n)
	if !f.truncated || n < f.truncTo {
		f.truncated, f.truncTo = true, n
	}
	f.srcLimit = min(f.srcLimit, n)
	f.size = size
	return nil
}

func (f *file) Size() (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.size, nil
}

func (f *file) BeginAtomicWrite() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batch, f.batchSize = make(map[uint32][]byte), f.size
	return nil
}

func (f *file) CommitAtomicWrite() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for no, d := range f.batch {
		f.dirty[no] = d
	}
	f.batch = nil
	f.batches++
	return nil
}

func (f *file) RollbackAtomicWrite() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batch, f.size = nil, f.batchSize
	return nil
}

// take hands out the dirty set and pins it until committed.
func (f *file) take() Changes {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	ch := Changes{Seq: f.seq, Truncate: f.truncated, TruncateTo: f.truncTo}
	ch.Pages = make([]Page, 0, len(f.dirty))
	for no, d := range f.dirty {
		ch.Pages = append(ch.Pages, Page{No: no, Data: d})
		f.inflight[no] = pinned{data: d, seq: f.seq}
		f.srcLimit = max(f.srcLimit, no)
	}
	slices.SortFunc(ch.Pages, func(a, b Page) int { return int(a.No) - int(b.No) })
	f.dirty = make(map[uint32][]byte)
	f.truncated, f.truncTo = false, 0
	return ch
}

// committed moves the pages of takes up to seq from pinned to the cache.
func (f *file) committed(seq uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for no, p := range f.inflight {
		if p.seq <= seq {
			delete(f.inflight, no)
			f.cache.put(no, p.data)
		}
	}
}

func (f *file) Close() error { return nil }

func (f *file) Sync(vfs.SyncFlag) error { return nil }

func (f *file) Lock(l vfs.LockLevel) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lock = max(f.lock, l)
	return nil
}

func (f *file) Unlock(l vfs.LockLevel) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lock = min(f.lock, l)
	return nil
}

func (f *file) CheckReservedLock() (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lock >= vfs.LOCK_RESERVED, nil
}

func (f *file) LockState() vfs.LockLevel {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lock
}

func (f *file) SectorSize() int { return PageSize }

func (f *file) DeviceCharacteristics() vfs.DeviceCharacteristic {
	return vfs.IOCAP_BATCH_ATOMIC | vfs.IOCAP_SAFE_APPEND | vfs.IOCAP_SEQUENTIAL |
		vfs.IOCAP_POWERSAFE_OVERWRITE | vfs.IOCAP_SUBPAGE_READ
}

var (
	_ vfs.FileBatchAtomicWrite = (*file)(nil)
	_ vfs.FileLockState        = (*file)(nil)
)
