package cli

// The engine commands run against a real local engine started in the test
// process (the embedded store, the real gateway and inspector) hosting the
// quickstart and test actors.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/internal/testactors"
	"github.com/rivetkube/rivetkube/rivet"
)

// startEngine starts a local engine on a free loopback port.
func startEngine(t *testing.T) string {
	t.Helper()
	reg := testactors.Register(rivet.NewRegistry())
	eng, err := reg.StartLocal(context.Background(), rivet.EngineConfig{
		Listen: "127.0.0.1:0", DataDir: t.TempDir(), ShutdownTimeout: 5 * time.Second,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	return eng.Endpoint()
}

// cli runs the tool with args and returns its exit code and outputs.
func cli(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := Run(ctx, Env{Prog: "rivetkube", Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}, args)
	return code, out.String(), errb.String()
}

// mustCLI runs the tool and fails the test unless it exits 0.
func mustCLI(t *testing.T, endpoint string, args ...string) string {
	t.Helper()
	code, out, errOut := cli(t, map[string]string{"RIVETKUBE_ENDPOINT": endpoint}, args...)
	if code != ExitOK {
		t.Fatalf("rivetkube %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON (%v): %s", err, s)
	}
	return v
}

func TestEngineCommands(t *testing.T) {
	ep := startEngine(t)

	// call creates the actor and passes JSON arguments as typed values.
	if out := mustCLI(t, ep, "call", "counter", "k1", "increment", "5"); strings.TrimSpace(out) != "5" {
		t.Fatalf("call increment 5 = %q, want 5", out)
	}
	if out := mustCLI(t, ep, "call", "counter", "k1", "increment", "2", "-o", "json"); strings.TrimSpace(out) != "7" {
		t.Fatalf("call increment 2 = %q, want 7", out)
	}
	mustCLI(t, ep, "call", "counter", `["a","b"]`, "increment", "1")

	// actors list: a table by default, JSON with -o json.
	table := mustCLI(t, ep, "actors", "list", "--name", "counter")
	if !strings.Contains(table, "ID") || !strings.Contains(table, "k1") || !strings.Contains(table, `["a","b"]`) {
		t.Fatalf("actors list table:\n%s", table)
	}
	actors := decode[[]Actor](t, mustCLI(t, ep, "actors", "list", "--name", "counter", "-o", "json"))
	if len(actors) != 2 {
		t.Fatalf("actors list = %+v, want 2 actors", actors)
	}
	var id string
	for _, a := range actors {
		if len(a.Key) == 1 && a.Key[0] == "k1" {
			id = a.ID
			if a.Name != "counter" || a.Status != "awake" || a.CreatedAt == nil {
				t.Fatalf("actor = %+v", a)
			}
		}
	}
	if id == "" {
		t.Fatalf("no actor with key k1 in %+v", actors)
	}
	if got := decode[[]Actor](t, mustCLI(t, ep, "actors", "list", "--name", "counter", "--key", "k1", "-o", "json")); len(got) != 1 || got[0].ID != id {
		t.Fatalf("actors list --key k1 = %+v", got)
	}

	// Without --name: the actors of every name.
	mustCLI(t, ep, "call", "user", "u1", "getUsername")
	all := decode[[]Actor](t, mustCLI(t, ep, "actors", "list", "-o", "json"))
	var got []string
	for _, a := range all {
		got = append(got, a.Name+"/"+keyString(a.Key))
	}
	slices.Sort(got)
	if want := []string{`counter/["a","b"]`, "counter/k1", "user/u1"}; !slices.Equal(got, want) {
		t.Fatalf("actors list (every name) = %v, want %v", got, want)
	}
	if table := mustCLI(t, ep, "actors", "list"); !strings.Contains(table, "NAME") || !strings.Contains(table, "user") || !strings.Contains(table, "counter") {
		t.Fatalf("actors list (every name) table:\n%s", table)
	}
	if got := decode[[]Actor](t, mustCLI(t, ep, "actors", "list", "--limit", "2", "-o", "json")); len(got) != 2 {
		t.Fatalf("actors list --limit 2 = %d actors, want 2", len(got))
	}
	// Following the engine's cursor over pages of one actor gives the same list.
	enginePageLimit = 1
	paged := decode[[]Actor](t, mustCLI(t, ep, "actors", "list", "-o", "json"))
	enginePageLimit = 1000
	if len(paged) != len(all) {
		t.Fatalf("actors list in pages of 1 = %d actors, want %d", len(paged), len(all))
	}
	for i := range paged {
		if paged[i].ID != all[i].ID {
			t.Fatalf("actors list in pages of 1 = %+v, want %+v", paged, all)
		}
	}

	// actors get by ID and by NAME/KEY.
	if a := decode[Actor](t, mustCLI(t, ep, "actors", "get", id, "-o", "json")); a.ID != id || a.Name != "counter" {
		t.Fatalf("actors get %s = %+v", id, a)
	}
	if out := mustCLI(t, ep, "actors", "get", "counter/k1"); !strings.Contains(out, id) {
		t.Fatalf("actors get counter/k1:\n%s", out)
	}

	// actors state reads and patches through the inspector.
	if st := decode[map[string]any](t, mustCLI(t, ep, "actors", "state", "counter/k1")); st["count"] != float64(7) {
		t.Fatalf("state = %v, want count 7", st)
	}
	if st := decode[map[string]any](t, mustCLI(t, ep, "actors", "state", id, "--set", `{"count": 100}`)); st["count"] != float64(100) {
		t.Fatalf("state after --set = %v, want count 100", st)
	}
	if out := mustCLI(t, ep, "call", "counter", "k1", "getCount", "--get"); strings.TrimSpace(out) != "100" {
		t.Fatalf("getCount after --set = %q, want 100", out)
	}
	// A state that does not fit the actor's type is refused.
	if code, _, errOut := cli(t, map[string]string{"RIVETKUBE_ENDPOINT": ep}, "actors", "state", id, "--set", `{"count": "many"}`); code != ExitFailed || !strings.Contains(errOut, "does not fit") {
		t.Fatalf("bad --set: exit %d, stderr %q", code, errOut)
	}

	// inspect: summary, actions and the spans of the calls above.
	in := decode[inspection](t, mustCLI(t, ep, "inspect", "counter/k1", "-o", "json"))
	if in.Summary.ActorID != id || !slices.Contains(in.Summary.Actions, "increment") || len(in.Traces) == 0 {
		t.Fatalf("inspect = %+v", in)
	}
	names := map[string]bool{}
	for _, s := range in.Traces {
		names[s.Name] = true
	}
	if !names["increment"] || !names["getCount"] {
		t.Fatalf("spans %v, want increment and getCount", names)
	}
	if out := mustCLI(t, ep, "inspect", id); !strings.Contains(out, "increment") || !strings.Contains(out, `"count":100`) {
		t.Fatalf("inspect table:\n%s", out)
	}

	// actors destroy, then the actor is gone (exit 3).
	if out := mustCLI(t, ep, "actors", "destroy", id); !strings.Contains(out, id) {
		t.Fatalf("destroy: %q", out)
	}
	if a := decode[Actor](t, mustCLI(t, ep, "actors", "get", id, "-o", "json")); a.Status != "destroyed" || a.DestroyedAt == nil {
		t.Fatalf("get after destroy = %+v", a)
	}
	if code, _, errOut := cli(t, map[string]string{"RIVETKUBE_ENDPOINT": ep}, "actors", "state", id); code != ExitNotFound {
		t.Fatalf("state after destroy: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := cli(t, map[string]string{"RIVETKUBE_ENDPOINT": ep}, "actors", "get", "counter/k1"); code != ExitNotFound {
		t.Fatalf("get by key after destroy: exit %d, stderr %q", code, errOut)
	}
	if got := decode[[]Actor](t, mustCLI(t, ep, "actors", "list", "--name", "counter", "--include-destroyed", "-o", "json")); len(got) != 2 {
		t.Fatalf("list --include-destroyed = %+v", got)
	}
}

func TestInspectQueueAndWorkflow(t *testing.T) {
	ep := startEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.New(client.Config{Endpoint: ep})
	if err != nil {
		t.Fatal(err)
	}
	// The worker's Run loop reads only "jobs": a message to "other" waits.
	if _, err := c.GetOrCreate("worker", []string{"w"}).Send(ctx, "other", "left-alone", client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	in := decode[inspection](t, mustCLI(t, ep, "inspect", "worker/w", "-o", "json"))
	if in.Queue.Size != 1 || len(in.Queue.Messages) != 1 || in.Queue.Messages[0].Name != "other" {
		t.Fatalf("queue = %+v", in.Queue)
	}
	if out := mustCLI(t, ep, "inspect", "worker/w"); !strings.Contains(out, "left-alone") || !strings.Contains(out, "1 messages") {
		t.Fatalf("inspect table:\n%s", out)
	}

	// The flow workflow runs step "one" and waits for a "go" message.
	flow := c.GetOrCreate("flow", []string{"f"})
	if _, err := client.Call[any](ctx, flow, "status"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		in = decode[inspection](t, mustCLI(t, ep, "inspect", "flow/f", "-o", "json"))
		if len(in.WorkflowHistory.Steps) > 0 && in.WorkflowHistory.Steps[0].Name == "one" && in.WorkflowHistory.Steps[0].Status != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("workflow history = %+v", in.WorkflowHistory)
		}
		if _, err := client.Call[any](ctx, flow, "status"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out := mustCLI(t, ep, "inspect", "flow/f"); !strings.Contains(out, "WORKFLOW") || !strings.Contains(out, "one") {
		t.Fatalf("inspect table:\n%s", out)
	}
}

func TestEngineErrors(t *testing.T) {
	ep := startEngine(t)
	env := map[string]string{"RIVETKUBE_ENDPOINT": ep}
	for _, tc := range []struct {
		name   string
		env    map[string]string
		args   []string
		code   int
		stderr string
	}{
		{"no command", env, nil, ExitUsage, ""},
		{"unknown command", env, []string{"actors", "frobnicate"}, ExitUsage, "unknown command"},
		{"key without name", env, []string{"actors", "list", "--key", "k"}, ExitUsage, "--key needs --name"},
		{"bad limit", env, []string{"actors", "list", "--limit", "0"}, ExitUsage, "--limit must be"},
		{"too many args", env, []string{"actors", "get", "a", "b"}, ExitUsage, "usage:"},
		{"bad flag", env, []string{"actors", "get", "x", "--nope"}, ExitUsage, "flag provided but not defined"},
		{"bad output", env, []string{"actors", "get", "x", "-o", "yaml"}, ExitUsage, "-o must be"},
		{"bad JSON argument", env, []string{"call", "counter", "k", "increment", "five"}, ExitUsage, "not JSON"},
		{"bad endpoint", nil, []string{"actors", "get", "x", "--endpoint", "ftp://x"}, ExitUsage, "--endpoint must be"},
		{"unknown actor id", env, []string{"actors", "get", "0123456789abcdef0123456789abcdef"}, ExitNotFound, "no actor"},
		{"unknown actor key", env, []string{"actors", "state", "counter/missing"}, ExitNotFound, "not_found"},
		{"unknown action", env, []string{"call", "counter", "k", "nope"}, ExitNotFound, "action_not_found"},
		{"user error", env, []string{"call", "user", "u", "updateUsername", `"x"`}, ExitFailed, "user/username_too_short"},
		{"unreachable", nil, []string{"actors", "list", "--name", "x", "--endpoint", "http://127.0.0.1:1"}, ExitUnreachable, "127.0.0.1:1"},
		// A global flag before the command is kept (the command's flag set
		// registers it again).
		{"flag before the command", nil, []string{"--endpoint", "http://127.0.0.1:1", "actors", "list", "--name", "x"}, ExitUnreachable, "127.0.0.1:1"},
		{"json error", env, []string{"actors", "get", "0123456789abcdef0123456789abcdef", "-o", "json"}, ExitNotFound, `"exitCode":3`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := cli(t, tc.env, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.stderr) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, errOut, tc.code, tc.stderr)
			}
		})
	}
}

func TestHelpAndFlags(t *testing.T) {
	t.Parallel()
	code, out, _ := cli(t, nil, "help", "actors", "state")
	if code != ExitOK || !strings.Contains(out, "--set") {
		t.Fatalf("help actors state: exit %d\n%s", code, out)
	}
	code, out, _ = cli(t, nil, "-h")
	if code != ExitOK || !strings.Contains(out, "rollout status") {
		t.Fatalf("-h: exit %d\n%s", code, out)
	}
	var o bytes.Buffer
	if Run(context.Background(), Env{Prog: "/usr/local/bin/kubectl-rivet", Stdout: &o, Stderr: io.Discard, Getenv: func(string) string { return "" }}, []string{"version"}) != ExitOK ||
		!strings.HasPrefix(o.String(), "kubectl rivet ") {
		t.Fatalf("as kubectl-rivet: %q", o.String())
	}
	pos, err := parseInterspersed(newFlagSetForTest(), []string{"a", "--name", "n", "b", "--", "--c", "-5"})
	if err != nil || strings.Join(pos, " ") != "a b --c -5" {
		t.Fatalf("parseInterspersed = %q, %v", pos, err)
	}
}

func newFlagSetForTest() *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("name", "", "")
	return fs
}
