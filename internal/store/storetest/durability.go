package storetest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rivetkube/rivetkube/internal/store"
)

// Opener opens the store kept at path (a file or a directory, as the
// backend keeps it), creating it when missing.
type Opener func(path string) (store.Store, error)

// RunOnDisk runs the tests of an on-disk backend's files: Reopen and
// Kill9, each in a new temporary directory under the name base (the file
// or directory open is given). The backend's TestMain must call
// CrashChild with the same open.
func RunOnDisk(t *testing.T, base string, open Opener) {
	t.Run("Reopen", func(t *testing.T) {
		t.Parallel()
		Reopen(t, filepath.Join(t.TempDir(), base), open)
	})
	t.Run("Kill9", func(t *testing.T) {
		t.Parallel()
		Kill9(t, filepath.Join(t.TempDir(), base), open)
	})
}

// Reopen writes through a store opened at path, closes it, opens it again
// and checks that everything is still there.
func Reopen(t *testing.T, path string, open Opener) {
	t.Helper()
	ctx := context.Background()
	s, err := open(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateActor(ctx, store.ActorSpec{ID: "a1", Namespace: "ns", Name: "n", Key: []string{"k/1", "x,y"}, Input: []byte{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := s.CreateActor(ctx, store.ActorSpec{ID: "a2", Namespace: "ns", Name: "n", Key: []string{"gone"}})
	if err != nil {
		t.Fatal(err)
	}
	if a, err = s.Activate(ctx, a.ID, "r1", 0); err != nil {
		t.Fatal(err)
	}
	errs, err := s.Commit(ctx, []store.Write{{ActorID: a.ID, Generation: a.Generation, State: []byte("state"), Initialized: true,
		Puts: []store.KV{{Key: []byte{0x00}, Value: []byte("zero")}, {Key: []byte("b"), Value: []byte("bee")}}}})
	if err != nil || errs[0] != nil {
		t.Fatalf("Commit: %v %v", err, errs)
	}
	if _, err := s.DestroyActor(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	got, err := s.GetActorByKey(ctx, "ns", "n", []string{"k/1", "x,y"})
	if err != nil {
		t.Fatalf("GetActorByKey after reopen: %v", err)
	}
	if got.ID != a.ID || got.Generation != a.Generation || got.RunnerID != "r1" || !got.Initialized ||
		!got.CreatedAt.Equal(a.CreatedAt) || !got.StartedAt.Equal(a.StartedAt) || string(got.Input) != "\x01\x02" {
		t.Fatalf("actor after reopen = %+v, want %+v", got, a)
	}
	st, err := s.LoadState(ctx, a.ID, a.Generation)
	if err != nil || string(st) != "state" {
		t.Fatalf("state after reopen = %q, %v", st, err)
	}
	kvs, err := s.KVList(ctx, a.ID, store.KVRange{})
	if err != nil || len(kvs) != 2 || string(kvs[0].Value) != "zero" || string(kvs[1].Value) != "bee" {
		t.Fatalf("KV after reopen = %v, %v", kvs, err)
	}
	g, err := s.GetActor(ctx, gone.ID)
	if err != nil || !g.Destroyed() {
		t.Fatalf("destroyed actor after reopen: %+v, %v", g, err)
	}
	if _, err := s.GetActorByKey(ctx, "ns", "n", []string{"gone"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("destroyed key after reopen: %v", err)
	}
	list, _, err := s.ListActors(ctx, store.ListOptions{Namespace: "ns", Name: "n", IncludeDestroyed: true})
	if err != nil || len(list) != 2 {
		t.Fatalf("list after reopen: %d actors, %v", len(list), err)
	}
}

// The crash test re-executes the test binary as a writer child.
const crashChildEnv = "RIVETKUBE_STORE_CRASH_CHILD"

// CrashChild is for a backend's TestMain: in the writer child that Kill9
// starts, it commits forever through open and never returns; anywhere
// else it returns at once.
func CrashChild(open Opener) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path, open)
		os.Exit(0)
	}
}

// crashChild commits forever, printing "ack N" after Commit N returned.
func crashChild(path string, open Opener) {
	ctx := context.Background()
	s, err := open(path)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	a, err := s.Activate(ctx, "victim", "child", 0)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	fmt.Println("gen", a.Generation)
	for i := 0; ; i++ {
		errs, err := s.Commit(ctx, []store.Write{{ActorID: a.ID, Generation: a.Generation, State: []byte(strconv.Itoa(i)),
			Puts: []store.KV{{Key: fmt.Appendf(nil, "k%08d", i), Value: []byte("v")}}}})
		if err == nil {
			err = errs[0]
		}
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println("ack", i)
	}
}

// Kill9 kills a process writing through a store at path with SIGKILL and
// checks that every commit it acknowledged is there after reopening. The
// backend's TestMain must call CrashChild with the same open.
func Kill9(t *testing.T, path string, open Opener) {
	t.Helper()
	ctx := context.Background()
	s, err := open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateActor(ctx, store.ActorSpec{ID: "victim", Namespace: "ns", Name: "crash"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var gen uint64
	lastAck := -1
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "gen" {
			gen, _ = strconv.ParseUint(f[1], 10, 64)
			continue
		}
		if len(f) != 2 || f[0] != "ack" {
			_ = cmd.Process.Kill()
			t.Fatalf("child: %s", sc.Text())
		}
		lastAck, _ = strconv.Atoi(f[1])
		if lastAck == 200 {
			break
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	// Acks the child printed before it died still count.
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "ack" {
			lastAck, _ = strconv.Atoi(f[1])
		}
	}
	_ = cmd.Wait()
	if lastAck < 0 || gen == 0 {
		t.Fatalf("child acknowledged nothing (gen %d)", gen)
	}

	s, err = open(path)
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer s.Close()
	st, err := s.LoadState(ctx, "victim", gen)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(string(st))
	if err != nil || n < lastAck {
		t.Fatalf("state after kill -9 = %q, acknowledged %d", st, lastAck)
	}
	kvs, err := s.KVList(ctx, "victim", store.KVRange{Prefix: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) < lastAck+1 {
		t.Fatalf("%d KV pairs after kill -9, acknowledged %d commits", len(kvs), lastAck+1)
	}
	for i := 0; i <= lastAck; i++ {
		if want := fmt.Sprintf("k%08d", i); string(kvs[i].Key) != want {
			t.Fatalf("pair %d = %q, want %q", i, kvs[i].Key, want)
		}
	}
}
