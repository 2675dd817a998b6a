package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/store/boltstore"
)

// TestListActorsAcrossNames: GET /actors without a name lists the actors
// of every name, in pages of ?limit, until the cursor runs out; bad
// parameters are invalid requests.
func TestListActorsAcrossNames(t *testing.T) {
	t.Parallel()
	bs, err := boltstore.Open(filepath.Join(t.TempDir(), "db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	srv := httptest.NewServer(New(Config{Directory: bs, Host: &fakeHost{st: bs}, Log: quietLog()}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	var want []string
	for i, name := range []string{"counter", "chat", "counter", "user", "chat", "counter", "x"} {
		a, err := bs.CreateActor(ctx, store.ActorSpec{ID: fmt.Sprintf("a%02d", i), Namespace: "default", Name: name, Key: []string{fmt.Sprint(i)}})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, a.Name+"/"+a.ID)
	}
	if _, err := bs.CreateActor(ctx, store.ActorSpec{ID: "other-ns", Namespace: "elsewhere", Name: "counter", Key: []string{"0"}}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(want)

	type page struct {
		Actors []struct {
			ID   string `json:"actor_id"`
			Name string `json:"name"`
		} `json:"actors"`
		Pagination *struct {
			Cursor string `json:"cursor"`
		} `json:"pagination"`
	}
	get := func(q url.Values) (int, page, string) {
		resp, err := http.Get(srv.URL + "/actors?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p page
		var raw json.RawMessage
		if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
			t.Fatal(err)
		}
		_ = json.Unmarshal(raw, &p)
		return resp.StatusCode, p, string(raw)
	}
	for _, limit := range []int{1, 3, 7, 1000} {
		var got []string
		q := url.Values{"limit": {fmt.Sprint(limit)}}
		for pages := 0; ; pages++ {
			if pages > 20 {
				t.Fatalf("limit %d: the listing does not end", limit)
			}
			code, p, raw := get(q)
			if code != http.StatusOK {
				t.Fatalf("limit %d: %d %s", limit, code, raw)
			}
			if len(p.Actors) > limit {
				t.Fatalf("limit %d: a page of %d", limit, len(p.Actors))
			}
			for _, a := range p.Actors {
				got = append(got, a.Name+"/"+a.ID)
			}
			if p.Pagination == nil || p.Pagination.Cursor == "" {
				break
			}
			q.Set("cursor", p.Pagination.Cursor)
		}
		sort.Strings(got)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("limit %d: listed %v, want %v", limit, got, want)
		}
	}
	// By name it still lists one name.
	if code, p, raw := get(url.Values{"name": {"chat"}}); code != http.StatusOK || len(p.Actors) != 2 {
		t.Fatalf("name=chat: %d %s", code, raw)
	}
	for _, tc := range []struct {
		q    url.Values
		want string
	}{
		{url.Values{"key": {"1"}}, "key needs a name"},
		{url.Values{"name": {""}}, "actor name is required"},
		{url.Values{"limit": {"0"}}, "limit must be a number from 1 to 1000"},
		{url.Values{"limit": {"1001"}}, "limit must be"},
		{url.Values{"limit": {"ten"}}, "limit must be"},
		{url.Values{"cursor": {"garbage!"}}, "cursor"},
	} {
		code, _, raw := get(tc.q)
		if code != http.StatusBadRequest || !strings.Contains(raw, tc.want) {
			t.Errorf("GET /actors?%s = %d %s, want 400 with %q", tc.q.Encode(), code, raw, tc.want)
		}
	}
}
