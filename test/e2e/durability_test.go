package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// jsonAction calls an action with the JSON encoding through a getOrCreate
// query route and decodes the output.
func jsonAction(c *http.Client, endpoint, actor, key, action string, out any, args ...any) (int, error) {
	if args == nil {
		args = []any{}
	}
	body, _ := json.Marshal(map[string]any{"args": args})
	url := fmt.Sprintf("%s/gateway/%s/action/%s?rvt-namespace=default&rvt-method=getOrCreate&rvt-key=%s", endpoint, actor, action, key)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("x-rivet-encoding", "json")
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	var r struct {
		Output json.RawMessage `json:"output"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return resp.StatusCode, err
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(r.Output, out)
	}
	return resp.StatusCode, nil
}

// TestKill9KeepsAcknowledgedWrites writes from many goroutines to many
// counters, kills the engine with SIGKILL mid-load, restarts it on the same
// data directory, and checks every acknowledged increment is there.
func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	p := startEngineAt(t, addr, dir)

	const workers, actors = 16, 40
	acked := make([]atomic.Int64, actors) // highest acknowledged count per actor
	var stop atomic.Bool
	var wg sync.WaitGroup
	var total atomic.Int64
	client := &http.Client{Timeout: 10 * time.Second}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				a := (w*7 + i) % actors
				var n int64
				if _, err := jsonAction(client, p.Endpoint, "counter", fmt.Sprintf("dur-%d", a), "increment", &n, 1); err != nil {
					continue // the kill makes in-flight calls fail; those were never acknowledged
				}
				total.Add(1)
				for {
					cur := acked[a].Load()
					if n <= cur || acked[a].CompareAndSwap(cur, n) {
						break
					}
				}
			}
		}(w)
	}
	// Let a meaningful number of writes be acknowledged, then kill -9.
	deadline := time.Now().Add(30 * time.Second)
	for total.Load() < 2000 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	p.kill()
	stop.Store(true)
	wg.Wait()
	if total.Load() == 0 {
		t.Fatal("no write was acknowledged before the kill")
	}
	t.Logf("%d writes acknowledged before SIGKILL", total.Load())

	p2 := startEngineAt(t, addr, dir)
	for a := 0; a < actors; a++ {
		var n int64
		if _, err := jsonAction(client, p2.Endpoint, "counter", fmt.Sprintf("dur-%d", a), "getCount", &n); err != nil {
			t.Fatalf("actor %d after restart: %v", a, err)
		}
		if want := acked[a].Load(); n < want {
			t.Errorf("actor %d: count %d after restart, but %d was acknowledged", a, n, want)
		}
	}
}
