package store

import (
	"context"
	"fmt"
)

// An actor's SQL database (c.DB()) is stored as pages: fixed-size blocks
// of the SQLite file numbered from 1, kept under the actor like its state
// and KV, and changed only by Write.DB, so a task's SQL changes commit in
// the same fenced write as its state. The database's size is its highest
// stored page number.

// DBPage is one stored page of an actor's SQL database.
type DBPage struct {
	No   uint32 // from 1
	Data []byte // 1..MaxDBPageSize bytes
}

// DBWrite changes an actor's SQL database pages. It applies after the
// rest of the Write: when Truncate, pages numbered above TruncateTo are
// deleted; then Pages are put (the last entry for a page number wins).
type DBWrite struct {
	Pages      []DBPage
	Truncate   bool
	TruncateTo uint32
}

// Limits of SQL database pages.
const (
	MaxDBPageSize      = 64 << 10 // DBPage.Data
	MaxDBPagesPerWrite = 1 << 16  // DBWrite.Pages
	MaxDBPagesPerRead  = 1024     // pages one ReadDBPages call returns
)

// DBPageReader reads an actor's SQL database pages.
type DBPageReader interface {
	// ReadDBPages returns the actor's stored pages numbered in [from, to)
	// in order, at most MaxDBPagesPerRead (the first ones), and the
	// highest stored page number (0 when none). from >= 1 and from <= to
	// (else ErrInvalid); from == to returns only the highest number.
	// ErrNotFound for an unknown actor; a destroyed actor has no pages.
	ReadDBPages(ctx context.Context, id string, from, to uint32) (pages []DBPage, count uint32, err error)
}

// ValidateDBWrite checks a Write.DB.
func ValidateDBWrite(d *DBWrite) error {
	if d == nil {
		return nil
	}
	if len(d.Pages) > MaxDBPagesPerWrite {
		return fmt.Errorf("db write: %d pages exceed %d: %w", len(d.Pages), MaxDBPagesPerWrite, ErrInvalid)
	}
	for _, p := range d.Pages {
		if p.No == 0 {
			return fmt.Errorf("db write: page number 0: %w", ErrInvalid)
		}
		if len(p.Data) == 0 || len(p.Data) > MaxDBPageSize {
			return fmt.Errorf("db write: page %d of %d bytes not within 1..%d: %w", p.No, len(p.Data), MaxDBPageSize, ErrInvalid)
		}
	}
	return nil
}

// ValidatePageRange checks the arguments of ReadDBPages and returns the
// end of the range it may read.
func ValidatePageRange(id string, from, to uint32) (uint32, error) {
	if id == "" {
		return 0, fmt.Errorf("read db pages: actor id is empty: %w", ErrInvalid)
	}
	if from == 0 || to < from {
		return 0, fmt.Errorf("read db pages: range %d..%d: %w", from, to, ErrInvalid)
	}
	return uint32(min(uint64(to), uint64(from)+MaxDBPagesPerRead)), nil
}
