package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/rivetkube/rivetkube/internal/store"
)

// listAllTests are the subtests of ListActors without a name (every name).
var listAllTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"ListAllNames", testListAllNames},
	{"ListAllNamesErrors", testListAllNamesErrors},
}

// testListAllNames: every live actor of the namespace, of every name, once,
// across pages of any size; grouped by name, each name's actors in
// (CreatedAt, ID) order; destroyed ones only when asked; other namespaces
// never (including one whose name extends this one's).
func testListAllNames(t *testing.T, s store.Store) {
	ctx := context.Background()
	ns := newNS()
	want := map[string]string{} // id → name
	for i, name := range []string{"b", "a", "counter", "a", "zz", "b", "a", "chat/room", "b"} {
		a := mustCreate(t, s, spec(t, ns, name, fmt.Sprint(i)))
		want[a.ID] = name
	}
	gone := mustCreate(t, s, spec(t, ns, "a", "destroyed"))
	if _, err := s.DestroyActor(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, spec(t, newNS(), "a", "0"))
	mustCreate(t, s, spec(t, ns+"x", "a", "0"))

	for _, limit := range []int{1, 2, 4, 9, 100} {
		got, pages := listAll(t, s, store.ListOptions{Namespace: ns, Limit: limit})
		if len(got) != len(want) {
			t.Fatalf("limit %d: listed %d actors (%v), want %d", limit, len(got), names(got), len(want))
		}
		seen := map[string]bool{}
		for _, a := range got {
			if seen[a.ID] {
				t.Fatalf("limit %d: actor %s listed twice", limit, a.ID)
			}
			seen[a.ID] = true
			if want[a.ID] != a.Name || a.Namespace != ns {
				t.Fatalf("limit %d: listed %s (%s/%s), not one of the namespace's live actors", limit, a.ID, a.Namespace, a.Name)
			}
		}
		if minPages := (len(want) + limit - 1) / limit; pages < minPages || pages > minPages+1 {
			t.Fatalf("limit %d: %d pages for %d actors", limit, pages, len(want))
		}
		// Grouped by name: a name, once left, does not come back.
		done := map[string]bool{}
		for i, a := range got {
			if i > 0 && got[i-1].Name != a.Name {
				if done[a.Name] {
					t.Fatalf("limit %d: name %q comes back after others: %v", limit, a.Name, names(got))
				}
				done[got[i-1].Name] = true
			}
		}
		for _, name := range []string{"a", "b"} {
			var of []store.Actor
			for _, a := range got {
				if a.Name == name {
					of = append(of, a)
				}
			}
			checkOrder(t, of)
		}
	}
	all, _ := listAll(t, s, store.ListOptions{Namespace: ns, IncludeDestroyed: true, Limit: 3})
	if len(all) != len(want)+1 || !slices.Contains(ids(all), gone.ID) {
		t.Fatalf("with destroyed: %d actors, want %d with %s", len(all), len(want)+1, gone.ID)
	}
	page, next, err := s.ListActors(ctx, store.ListOptions{Namespace: newNS()})
	if err != nil || len(page) != 0 || next != "" {
		t.Fatalf("empty namespace: %d actors, next %q, err %v", len(page), next, err)
	}
}

func testListAllNamesErrors(t *testing.T, s store.Store) {
	ctx := context.Background()
	ns := newNS()
	mustCreate(t, s, spec(t, ns, "x", "1"))
	if _, _, err := s.ListActors(ctx, store.ListOptions{Namespace: ns, Key: []string{"1"}, HasKey: true}); err == nil {
		t.Fatal("a key filter without a name succeeded")
	}
	for i := 0; i < 3; i++ {
		mustCreate(t, s, spec(t, ns, "x", fmt.Sprint(i+2)))
	}
	// A cursor of a listing by name is not one of a listing across names.
	_, byName, err := s.ListActors(ctx, store.ListOptions{Namespace: ns, Name: "x", Limit: 1})
	if err != nil || byName == "" {
		t.Fatalf("list by name: next %q, err %v", byName, err)
	}
	if _, _, err := s.ListActors(ctx, store.ListOptions{Namespace: ns, Cursor: byName}); err == nil {
		t.Fatal("a by-name cursor was accepted by the listing across names")
	}
	if _, _, err := s.ListActors(ctx, store.ListOptions{Namespace: ns, Cursor: "%%not a cursor%%"}); err == nil {
		t.Fatal("a garbage cursor was accepted")
	}
}

func names(as []store.Actor) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Name
	}
	return out
}
