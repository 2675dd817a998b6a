package pebblestore

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble"

	"github.com/rivetkube/rivetkube/internal/store/boltstore"
)

func openEngine(t *testing.T) *engine {
	t.Helper()
	db, err := pebble.Open(filepath.Join(t.TempDir(), "e"), &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return &engine{db: db}
}

type kv struct{ k, v string } // v "<bucket>" for a nested bucket

func walk(c boltstore.Cursor, first func() ([]byte, []byte), step func() ([]byte, []byte)) []kv {
	var out []kv
	for k, v := first(); k != nil; k, v = step() {
		e := kv{k: string(k), v: string(v)}
		if v == nil {
			e.v = "<bucket>"
		}
		out = append(out, e)
	}
	return out
}

// TestEngineBuckets checks the bbolt semantics the store relies on: keys
// with 0x00 bytes keep byte order, nested buckets show up as one entry
// with a nil value in both directions, a dropped bucket takes its contents
// with it, and a write transaction reads its own writes.
func TestEngineBuckets(t *testing.T) {
	e := openEngine(t)
	err := e.Update(func(tx boltstore.Tx) error {
		root, err := tx.CreateBucketIfNotExists([]byte("top"))
		if err != nil {
			return err
		}
		for _, k := range []string{"a", "a\x00", "a\x00\x00", "a\x01", "b", "", "\xff"} {
			if err := root.Put([]byte(k), []byte("v"+k)); err != nil {
				return err
			}
		}
		for _, name := range []string{"n1", "a\x00x"} {
			nb, err := root.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			for i := range 3 {
				if err := nb.Put([]byte{byte(i)}, []byte("inner")); err != nil {
					return err
				}
			}
			if _, err := nb.CreateBucket([]byte("deep")); err != nil {
				return err
			}
		}
		if _, err := root.CreateBucket([]byte("n1")); !errors.Is(err, boltstore.ErrBucketExists) {
			return fmt.Errorf("CreateBucket twice: %v", err)
		}
		// Read your writes.
		if got := root.Get([]byte("a\x00")); string(got) != "va\x00" {
			return fmt.Errorf("Get in the write tx = %q", got)
		}
		if root.Get([]byte("n1")) != nil || root.Bucket([]byte("n1")) == nil || root.Bucket([]byte("a")) != nil {
			return errors.New("bucket/key confusion")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []kv{{"", "v"}, {"a", "va"}, {"a\x00", "va\x00"}, {"a\x00\x00", "va\x00\x00"}, {"a\x00x", "<bucket>"},
		{"a\x01", "va\x01"}, {"b", "vb"}, {"n1", "<bucket>"}, {"\xff", "v\xff"}}
	_ = e.View(func(tx boltstore.Tx) error {
		c := tx.Bucket([]byte("top")).Cursor()
		if got := walk(c, c.First, c.Next); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("forward = %q\nwant      %q", got, want)
		}
		var rev []kv
		for i := len(want) - 1; i >= 0; i-- {
			rev = append(rev, want[i])
		}
		if got := walk(c, c.Last, c.Prev); fmt.Sprint(got) != fmt.Sprint(rev) {
			t.Errorf("backward = %q\nwant       %q", got, rev)
		}
		if k, _ := c.Seek([]byte("a\x00\x01")); string(k) != "a\x00x" {
			t.Errorf("Seek = %q", k)
		}
		if k, _ := c.Prev(); string(k) != "a\x00\x00" {
			t.Errorf("Prev after Seek = %q", k)
		}
		if k, _ := c.Seek([]byte("\xff\xff")); k != nil {
			t.Errorf("Seek past the end = %q", k)
		}
		inner := tx.Bucket([]byte("top")).Bucket([]byte("a\x00x"))
		n := 0
		_ = inner.ForEach(func(k, v []byte) error { n++; return nil })
		if n != 4 {
			t.Errorf("inner bucket has %d entries, want 4", n)
		}
		return nil
	})
	err = e.Update(func(tx boltstore.Tx) error {
		root := tx.Bucket([]byte("top"))
		if err := root.DeleteBucket([]byte("n1")); err != nil {
			return err
		}
		if err := root.DeleteBucket([]byte("n1")); !errors.Is(err, boltstore.ErrBucketNotFound) {
			return fmt.Errorf("DeleteBucket twice: %v", err)
		}
		// Dropped and made again in one transaction (DeleteAll, then
		// Puts): the new bucket is empty but for the new key.
		nb, err := root.CreateBucketIfNotExists([]byte("a\x00x"))
		if err != nil {
			return err
		}
		if err := root.DeleteBucket([]byte("a\x00x")); err != nil {
			return err
		}
		if nb, err = root.CreateBucketIfNotExists([]byte("a\x00x")); err != nil {
			return err
		}
		if err := nb.Put([]byte("new"), []byte("v")); err != nil {
			return err
		}
		if got := nb.Get([]byte{0}); got != nil {
			return fmt.Errorf("key of the dropped bucket still there: %q", got)
		}
		c := root.Cursor()
		for k, v := c.Seek([]byte("a")); k != nil && bytes.HasPrefix(k, []byte("a")); k, v = c.Next() {
			err := c.Delete()
			if v == nil && !errors.Is(err, boltstore.ErrIncompatible) {
				return fmt.Errorf("Delete on bucket %q: %v", k, err)
			}
			if v != nil && err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = e.View(func(tx boltstore.Tx) error {
		c := tx.Bucket([]byte("top")).Cursor()
		want := []kv{{"", "v"}, {"a\x00x", "<bucket>"}, {"b", "vb"}, {"\xff", "v\xff"}}
		if got := walk(c, c.First, c.Next); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("after deletes = %q\nwant            %q", got, want)
		}
		ic := tx.Bucket([]byte("top")).Bucket([]byte("a\x00x")).Cursor()
		if got := walk(ic, ic.First, ic.Next); fmt.Sprint(got) != fmt.Sprint([]kv{{"new", "v"}}) {
			t.Errorf("bucket made again = %q, want only the new key", got)
		}
		return nil
	})
}
