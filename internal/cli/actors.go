package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rivetkube/rivetkube/internal/protocol"
)

// maxListLimit bounds how many actors `actors list` reads.
const maxListLimit = 100000

// enginePageLimit is the largest page asked of the engine's GET /actors
// (its cap); a variable so that the tests can make pages small.
var enginePageLimit = 1000

func actorsListCmd() cmd {
	return cmd{
		path: "actors list", args: "[--name NAME]", summary: "list actors (of one name, or of every name)",
		min: 0, max: 0,
		flags: func(fs *flag.FlagSet, o *opts) {
			fs.StringVar(&o.name, "name", "", "actor name (default: every name, grouped by name)")
			fs.StringVar(&o.key, "key", "", "only the actor with this key (a string, or a JSON array for a compound key; needs --name)")
			fs.BoolVar(&o.includeDestroyed, "include-destroyed", false, "also list destroyed actors")
			fs.IntVar(&o.limit, "limit", 1000, fmt.Sprintf("at most this many actors (1 to %d)", maxListLimit))
		},
		run: runActorsList,
	}
}

func runActorsList(ctx context.Context, r *runner, _ []string) error {
	if r.o.key != "" && r.o.name == "" {
		return usageErr("--key needs --name (a key is unique only within a name)")
	}
	if r.o.limit < 1 || r.o.limit > maxListLimit {
		return usageErr("--limit must be between 1 and %d", maxListLimit)
	}
	e, err := r.engine()
	if err != nil {
		return err
	}
	q := url.Values{}
	if r.o.name != "" {
		q.Set("name", r.o.name)
	}
	if r.o.key != "" {
		key, err := keyArg(r.o.key)
		if err != nil {
			return err
		}
		q.Set("key", protocol.SerializeKey(key))
	}
	if r.o.includeDestroyed {
		q.Set("include_destroyed", "true")
	}
	actors := []Actor{}
	for len(actors) < r.o.limit {
		q.Set("limit", strconv.Itoa(min(r.o.limit-len(actors), enginePageLimit)))
		var page struct {
			Actors     []actorJSON `json:"actors"`
			Pagination *struct {
				Cursor string `json:"cursor"`
			} `json:"pagination"`
		}
		cctx, cancel := context.WithTimeout(ctx, r.o.requestTimeout)
		err := e.do(cctx, http.MethodGet, "/actors", q, e.token, nil, &page)
		cancel()
		if err != nil {
			return fmt.Errorf("list actors: %w", err)
		}
		for _, a := range page.Actors {
			if len(actors) < r.o.limit {
				actors = append(actors, a.actor())
			}
		}
		if page.Pagination == nil || page.Pagination.Cursor == "" || len(page.Actors) == 0 {
			break
		}
		q.Set("cursor", page.Pagination.Cursor)
	}
	if r.o.output == "json" {
		return r.printJSON(actors)
	}
	now := time.Now()
	t := newTable(r.env.Stdout, "ID", "NAME", "KEY", "STATUS", "POOL", "AGE")
	for _, a := range actors {
		t.row(a.ID, a.Name, keyString(a.Key), a.Status, dash(a.Pool), ago(deref(a.CreatedAt), now))
	}
	return t.flush()
}

func actorsGetCmd() cmd {
	return cmd{
		path: "actors get", args: "ACTOR", summary: "show one actor (ACTOR is an ID or NAME/KEY)",
		min: 1, max: 1, run: runActorsGet,
	}
}

func runActorsGet(ctx context.Context, r *runner, args []string) error {
	return r.withActor(ctx, args[0], func(ctx context.Context, e *engine, id string) error {
		a, err := e.getActor(ctx, id)
		if err != nil {
			return err
		}
		if r.o.output == "json" {
			return r.printJSON(a)
		}
		t := newTable(r.env.Stdout, "FIELD", "VALUE")
		t.row("id", a.ID)
		t.row("name", a.Name)
		t.row("key", keyString(a.Key))
		t.row("status", a.Status)
		t.row("pool", dash(a.Pool))
		for _, f := range []struct {
			n string
			v *time.Time
		}{{"created", a.CreatedAt}, {"started", a.StartedAt}, {"slept", a.SleptAt}, {"destroyed", a.DestroyedAt}} {
			if f.v != nil {
				t.row(f.n, f.v.Format(time.RFC3339))
			}
		}
		return t.flush()
	})
}

func actorsStateCmd() cmd {
	return cmd{
		path: "actors state", args: "ACTOR [--set JSON]", summary: "print an actor's state, or replace it (inspector)",
		min: 1, max: 1,
		flags: func(fs *flag.FlagSet, o *opts) {
			fs.StringVar(&o.set, "set", "", "replace the state with this JSON value (it must fit the actor's state type)")
		},
		run: runActorsState,
	}
}

func runActorsState(ctx context.Context, r *runner, args []string) error {
	var newState json.RawMessage
	if r.o.set != "" {
		if !json.Valid([]byte(r.o.set)) {
			return usageErr("--set must be a JSON value, got %q", cut(r.o.set, 80))
		}
		newState = json.RawMessage(r.o.set)
	}
	return r.withActor(ctx, args[0], func(ctx context.Context, e *engine, id string) error {
		var resp struct {
			State json.RawMessage `json:"state"`
		}
		var err error
		if newState != nil {
			err = e.inspector(ctx, id, http.MethodPatch, "state", nil, map[string]any{"state": newState}, &resp)
		} else {
			err = e.inspector(ctx, id, http.MethodGet, "state", nil, nil, &resp)
		}
		if err != nil {
			return fmt.Errorf("actor %s state: %w", id, err)
		}
		return r.printRaw(resp.State)
	})
}

// printRaw prints a JSON value indented (both output formats: a state is
// JSON either way).
func (r *runner) printRaw(v json.RawMessage) error {
	if len(v) == 0 {
		v = json.RawMessage("null")
	}
	var buf strings.Builder
	var x any
	if err := json.Unmarshal(v, &x); err != nil {
		return fmt.Errorf("decode value: %w", err)
	}
	b, _ := json.MarshalIndent(x, "", "  ")
	buf.Write(b)
	_, err := fmt.Fprintln(r.env.Stdout, buf.String())
	return err
}

func actorsDestroyCmd() cmd {
	return cmd{
		path: "actors destroy", args: "ACTOR", summary: "destroy an actor (its state is deleted)",
		min: 1, max: 1, run: runActorsDestroy,
	}
}

func runActorsDestroy(ctx context.Context, r *runner, args []string) error {
	return r.withActor(ctx, args[0], func(ctx context.Context, e *engine, id string) error {
		if err := e.c.Destroy(ctx, id); err != nil {
			return fmt.Errorf("destroy %s: %w", id, err)
		}
		if r.o.output == "json" {
			return r.printJSON(map[string]any{"destroyed": id})
		}
		_, err := fmt.Fprintf(r.env.Stdout, "actor %s destroyed\n", id)
		return err
	})
}

// keyArg parses a key given on the command line: a JSON array of strings
// is a compound key, anything else one key part.
func keyArg(s string) ([]string, error) {
	if strings.HasPrefix(s, "[") {
		var key []string
		if err := json.Unmarshal([]byte(s), &key); err != nil {
			return nil, usageErr("a key starting with [ must be a JSON array of strings: %v", err)
		}
		return key, nil
	}
	return []string{s}, nil
}

// parseKey decodes the REST API's serialized key (nil when it is invalid).
func parseKey(s string) []string {
	k, err := protocol.DeserializeKey(s)
	if err != nil {
		return []string{s}
	}
	return k
}

// keyString renders a key: one part as itself, a compound key as JSON.
func keyString(k []string) string {
	if len(k) == 1 && !strings.HasPrefix(k[0], "[") {
		return k[0]
	}
	b, _ := json.Marshal(k)
	return string(b)
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
