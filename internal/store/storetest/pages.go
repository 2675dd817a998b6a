package storetest

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/rivetkube/rivetkube/internal/store"
)

// pageTests cover the SQL database pages of Write.DB and ReadDBPages.
var pageTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"DBPagesPutRead", testDBPagesPutRead},
	{"DBPagesTruncate", testDBPagesTruncate},
	{"DBPagesFenced", testDBPagesFenced},
	{"DBPagesAllOrNothing", testDBPagesAllOrNothing},
	{"DBPagesDestroy", testDBPagesDestroy},
	{"DBPagesLimits", testDBPagesLimits},
	{"DBPagesSQLite", testDBPagesSQLite},
}

// pg is a page numbered no whose bytes say which version it is.
func pg(no uint32, version string) store.DBPage {
	return store.DBPage{No: no, Data: []byte(fmt.Sprintf("page %d %s", no, version))}
}

func pages(nos []uint32, version string) []store.DBPage {
	out := make([]store.DBPage, len(nos))
	for i, no := range nos {
		out[i] = pg(no, version)
	}
	return out
}

// wantPages reads [from, to) and compares pages and the highest number.
func wantPages(t *testing.T, s store.Store, id string, from, to uint32, want []store.DBPage, wantCount uint32) {
	t.Helper()
	got, count, err := s.ReadDBPages(context.Background(), id, from, to)
	if err != nil {
		t.Fatalf("ReadDBPages(%d, %d): %v", from, to, err)
	}
	if count != wantCount {
		t.Fatalf("ReadDBPages(%d, %d): highest page %d, want %d", from, to, count, wantCount)
	}
	if len(got) != len(want) {
		t.Fatalf("ReadDBPages(%d, %d): %d pages, want %d", from, to, len(got), len(want))
	}
	for i := range want {
		if got[i].No != want[i].No || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Fatalf("ReadDBPages(%d, %d)[%d] = %d %q, want %d %q", from, to, i, got[i].No, got[i].Data, want[i].No, want[i].Data)
		}
	}
}

func testDBPagesPutRead(t *testing.T, s store.Store) {
	a := mustActivate(t, s, mustCreate(t, s, spec(t, newNS(), "db")).ID)
	wantPages(t, s, a.ID, 1, 10, nil, 0)
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, State: []byte("s"),
		DB: &store.DBWrite{Pages: pages([]uint32{3, 1, 2, 5, 4}, "v1")}})
	wantPages(t, s, a.ID, 1, 6, pages([]uint32{1, 2, 3, 4, 5}, "v1"), 5)
	wantPages(t, s, a.ID, 2, 4, pages([]uint32{2, 3}, "v1"), 5)
	wantPages(t, s, a.ID, 3, 3, nil, 5)
	wantPages(t, s, a.ID, 9, 100, nil, 5)
	// A later put replaces a page; within one write the last entry wins.
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation,
		DB: &store.DBWrite{Pages: []store.DBPage{pg(2, "v2"), pg(7, "v1"), pg(2, "v3")}}})
	wantPages(t, s, a.ID, 1, 10, []store.DBPage{pg(1, "v1"), pg(2, "v3"), pg(3, "v1"), pg(4, "v1"), pg(5, "v1"), pg(7, "v1")}, 7)

	_, _, err := s.ReadDBPages(context.Background(), newID(t), 1, 2)
	wantErr(t, "ReadDBPages of an unknown actor", err, store.ErrNotFound)
}

func testDBPagesTruncate(t *testing.T, s store.Store) {
	a := mustActivate(t, s, mustCreate(t, s, spec(t, newNS(), "db")).ID)
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation,
		DB: &store.DBWrite{Pages: pages([]uint32{1, 2, 3, 4, 5, 6, 7, 8}, "v1")}})
	// Truncation applies before the puts of the same write.
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation,
		DB: &store.DBWrite{Truncate: true, TruncateTo: 3, Pages: []store.DBPage{pg(5, "v2")}}})
	wantPages(t, s, a.ID, 1, 100, append(pages([]uint32{1, 2, 3}, "v1"), pg(5, "v2")), 5)
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, DB: &store.DBWrite{Truncate: true}})
	wantPages(t, s, a.ID, 1, 100, nil, 0)
}

func testDBPagesFenced(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustActivate(t, s, mustCreate(t, s, spec(t, newNS(), "db")).ID)
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, DB: &store.DBWrite{Pages: pages([]uint32{1}, "old")}})
	a2, err := s.Activate(ctx, a.ID, "runner-2", 0)
	if err != nil {
		t.Fatal(err)
	}
	errs, err := s.Commit(ctx, []store.Write{
		{ActorID: a.ID, Generation: a.Generation, DB: &store.DBWrite{Truncate: true, Pages: pages([]uint32{1, 2}, "stale")}},
		{ActorID: a.ID, Generation: a2.Generation, DB: &store.DBWrite{Pages: pages([]uint32{3}, "new")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "a stale generation's page write", errs[0], store.ErrFenced)
	if errs[1] != nil {
		t.Fatalf("the current generation's page write: %v", errs[1])
	}
	wantPages(t, s, a.ID, 1, 10, []store.DBPage{pg(1, "old"), pg(3, "new")}, 3)
}

func testDBPagesAllOrNothing(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustActivate(t, s, mustCreate(t, s, spec(t, newNS(), "db")).ID)
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, State: []byte("s0"),
		DB: &store.DBWrite{Pages: pages([]uint32{1}, "v0")}})
	// Invalid in its KV part: neither its state nor its pages apply.
	bad := store.Write{ActorID: a.ID, Generation: a.Generation, State: []byte("s1"),
		Puts: []store.KV{{Key: make([]byte, store.MaxKVKeySize+1)}},
		DB:   &store.DBWrite{Pages: pages([]uint32{1, 2}, "v1")}}
	// Invalid in its page part: neither its state nor its KV apply.
	bad2 := store.Write{ActorID: a.ID, Generation: a.Generation, State: []byte("s2"),
		Puts: []store.KV{{Key: []byte("k"), Value: []byte("v")}},
		DB:   &store.DBWrite{Pages: []store.DBPage{pg(1, "v2"), {No: 0, Data: []byte("x")}}}}
	errs, err := s.Commit(ctx, []store.Write{bad, bad2})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "a write with an oversized key", errs[0], store.ErrInvalid)
	wantErr(t, "a write with page number 0", errs[1], store.ErrInvalid)
	if st, err := s.LoadState(ctx, a.ID, a.Generation); err != nil || string(st) != "s0" {
		t.Fatalf("state = %q (%v), want s0", st, err)
	}
	if kvs, err := s.KVList(ctx, a.ID, store.KVRange{}); err != nil || len(kvs) != 0 {
		t.Fatalf("KV = %s (%v), want none", fmtKVs(kvs), err)
	}
	wantPages(t, s, a.ID, 1, 10, pages([]uint32{1}, "v0"), 1)
}

func testDBPagesDestroy(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustActivate(t, s, mustCreate(t, s, spec(t, newNS(), "db")).ID)
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, DB: &store.DBWrite{Pages: pages([]uint32{1, 2, 3}, "v1")}})
	if _, err := s.DestroyActor(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	wantPages(t, s, a.ID, 1, 10, nil, 0)
	errs, err := s.Commit(ctx, []store.Write{{ActorID: a.ID, Generation: a.Generation + 1, DB: &store.DBWrite{Pages: pages([]uint32{1}, "after")}}})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "a page write to a destroyed actor", errs[0], store.ErrDestroyed)
	wantPages(t, s, a.ID, 1, 10, nil, 0)
}

func testDBPagesLimits(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustActivate(t, s, mustCreate(t, s, spec(t, newNS(), "db")).ID)
	for _, tc := range []struct {
		name string
		page store.DBPage
	}{
		{"empty page", store.DBPage{No: 1, Data: []byte{}}},
		{"oversized page", store.DBPage{No: 1, Data: make([]byte, store.MaxDBPageSize+1)}},
		{"page zero", store.DBPage{No: 0, Data: []byte("x")}},
	} {
		errs, err := s.Commit(ctx, []store.Write{{ActorID: a.ID, Generation: a.Generation, DB: &store.DBWrite{Pages: []store.DBPage{tc.page}}}})
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, tc.name, errs[0], store.ErrInvalid)
	}
	big := store.DBPage{No: 1, Data: bytes.Repeat([]byte{7}, store.MaxDBPageSize)}
	nos := make([]uint32, store.MaxDBPagesPerRead+10)
	for i := range nos {
		nos[i] = uint32(i + 2)
	}
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, DB: &store.DBWrite{Pages: append([]store.DBPage{big}, pages(nos, "v")...)}})
	got, count, err := s.ReadDBPages(ctx, a.ID, 1, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != store.MaxDBPagesPerRead || count != uint32(len(nos)+1) || !bytes.Equal(got[0].Data, big.Data) {
		t.Fatalf("capped read: %d pages (want %d), highest %d (want %d)", len(got), store.MaxDBPagesPerRead, count, len(nos)+1)
	}
	for _, r := range [][2]uint32{{0, 1}, {5, 4}} {
		_, _, err := s.ReadDBPages(ctx, a.ID, r[0], r[1])
		wantErr(t, fmt.Sprintf("ReadDBPages(%d, %d)", r[0], r[1]), err, store.ErrInvalid)
	}
}
