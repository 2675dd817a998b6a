package cluster

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
	rvclient "github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/internal/testutil/jssuite"
)

var encodings = []rvclient.Encoding{rvclient.EncodingBARE, rvclient.EncodingJSON, rvclient.EncodingCBOR}

// goClient returns a client of the gateway that retries what the gateway
// says was not processed for up to 30 s (placement, drain, failover).
func (s *suite) goClient(t *testing.T, enc rvclient.Encoding) *rvclient.Client {
	t.Helper()
	c, err := rvclient.New(rvclient.Config{Endpoint: s.endpoint, Encoding: enc, MaxRetries: 300, RetryInterval: 100 * time.Millisecond})
	if err != nil {
		s.failf(t, "%v", err)
	}
	return c
}

var keySeq atomic.Int64

func uniq(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e9, keySeq.Add(1))
}

// events collects one event's first argument.
type events[T any] struct {
	mu   sync.Mutex
	got  []T
	errs []error
}

func listen[T any](c *rvclient.Conn, name string) *events[T] {
	e := &events[T]{}
	c.On(name, func(args rvclient.RawArgs) {
		var v T
		err := args.Decode(0, &v)
		e.mu.Lock()
		defer e.mu.Unlock()
		if err != nil {
			e.errs = append(e.errs, err)
			return
		}
		e.got = append(e.got, v)
	})
	return e
}

// wait returns the first n events, failing after d.
func (e *events[T]) wait(t *testing.T, n int, d time.Duration) []T {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		e.mu.Lock()
		got, errs := append([]T(nil), e.got...), e.errs
		e.mu.Unlock()
		if len(errs) > 0 {
			t.Fatalf("decoding an event: %v", errs[0])
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d events %v within %v, want %d", len(got), got, d, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type chatMessage struct {
	Text string `cbor:"text"`
}

type roomInfo struct {
	Org  string `cbor:"org"`
	Room string `cbor:"room"`
}

// clients: counter and chatRoom through the gateway Service with the Go
// client (HTTP actions, a WebSocket connection and its events) in every
// encoding, then the official rivetkit client (test/js/cluster/quickstart.mjs).
func (s *suite) clients(t *testing.T) {
	for _, enc := range encodings {
		t.Run("go-"+string(enc), func(t *testing.T) {
			ctx := ctxFor(t, 2*time.Minute)
			c := s.goClient(t, enc)

			key := []string{uniq("go-counter")}
			counter := c.GetOrCreate("counter", key)
			if n, err := rvclient.Call[int64](ctx, counter, "increment", 5); err != nil || n != 5 {
				s.fatalf(t, "counter.increment(5) = %d, %v; want 5", n, err)
			}
			conn, err := c.GetOrCreate("counter", key).Connect(ctx)
			if err != nil {
				s.fatalf(t, "connect to the counter: %v", err)
			}
			defer conn.Close()
			counts := listen[int64](conn, "count")
			// A round trip on the connection: its subscription has arrived.
			if n, err := rvclient.Call[int64](ctx, conn, "getCount"); err != nil || n != 5 {
				s.failf(t, "getCount over the connection = %d, %v; want 5", n, err)
			}
			if n, err := rvclient.Call[int64](ctx, counter, "increment", 2); err != nil || n != 7 {
				s.failf(t, "increment(2) over HTTP = %d, %v; want 7", n, err)
			}
			if n, err := rvclient.Call[int64](ctx, conn, "increment", 3); err != nil || n != 10 {
				s.failf(t, "increment(3) over the connection = %d, %v; want 10", n, err)
			}
			if got := counts.wait(t, 2, 10*time.Second); got[0] != 7 || got[1] != 10 {
				s.failf(t, "count events %v, want [7 10]", got)
			}

			org := uniq("org")
			room := c.GetOrCreate("chatRoom", []string{org, "general"})
			info, err := rvclient.Call[roomInfo](ctx, room, "getRoomInfo")
			if err != nil || info != (roomInfo{Org: org, Room: "general"}) {
				s.failf(t, "getRoomInfo = %+v, %v", info, err)
			}
			rc, err := c.GetOrCreate("chatRoom", []string{org, "general"}).Connect(ctx)
			if err != nil {
				s.failf(t, "connect to the chat room: %v", err)
			}
			defer rc.Close()
			msgs := listen[chatMessage](rc, "newMessage")
			if m, err := rvclient.Call[[]chatMessage](ctx, rc, "getMessages"); err != nil || len(m) != 0 {
				s.failf(t, "getMessages of a new room = %v, %v", m, err)
			}
			if m, err := rvclient.Call[chatMessage](ctx, room, "sendMessage", "hello"); err != nil || m.Text != "hello" {
				s.failf(t, "sendMessage over HTTP = %+v, %v", m, err)
			}
			if m, err := rvclient.Call[chatMessage](ctx, rc, "sendMessage", "from a connection"); err != nil || m.Text != "from a connection" {
				s.failf(t, "sendMessage over the connection = %+v, %v", m, err)
			}
			if got := msgs.wait(t, 2, 10*time.Second); got[0].Text != "hello" || got[1].Text != "from a connection" {
				s.failf(t, "newMessage events %v", got)
			}
			if m, err := rvclient.Call[[]chatMessage](ctx, room, "getMessages"); err != nil || len(m) != 2 {
				s.failf(t, "getMessages = %v, %v; want the two messages", m, err)
			}
		})
	}
	t.Run("js", func(t *testing.T) {
		dir := filepath.Join(s.cfg.root, "test", "js")
		jssuite.Available(t, dir)
		jssuite.RunFiles(t, dir, s.endpoint, "cluster/quickstart.mjs")
	})
}

// writer is one client loop: increments of its own counter, one at a time.
type writer struct {
	key      string
	attempts atomic.Int64
	acked    atomic.Int64 // the value the last acknowledged increment returned
	nAcked   atomic.Int64
	failures atomic.Int64
	gaps     atomic.Int64 // an acknowledged value that is not the previous + 1
	lastErr  atomic.Value
}

// load runs writers against the gateway until stop.
type load struct {
	writers  []*writer
	fresh    atomic.Int64 // new actors created by the loop
	freshErr atomic.Int64
	stopc    chan struct{}
	wg       sync.WaitGroup
	maxLat   atomic.Int64
}

// startLoad starts n writers. With freshEvery > 0 each writer also creates
// a new counter every freshEvery increments (new actors land on whatever
// version is current).
func (s *suite) startLoad(t *testing.T, prefix string, n, freshEvery int) *load {
	l := &load{stopc: make(chan struct{})}
	c := s.goClient(t, rvclient.EncodingBARE)
	for i := 0; i < n; i++ {
		w := &writer{key: uniq(prefix)}
		l.writers = append(l.writers, w)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			h := c.GetOrCreate("counter", []string{w.key})
			for i := 1; ; i++ {
				select {
				case <-l.stopc:
					return
				default:
				}
				w.attempts.Add(1)
				// Not cancelled by stop: a call in flight finishes.
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				start := time.Now()
				v, err := rvclient.Call[int64](ctx, h, "increment", 1)
				cancel()
				if lat := time.Since(start).Milliseconds(); lat > l.maxLat.Load() {
					l.maxLat.Store(lat)
				}
				if err != nil {
					w.failures.Add(1)
					w.lastErr.Store(err.Error())
				} else {
					if v != w.acked.Load()+1 {
						w.gaps.Add(1)
					}
					w.acked.Store(v)
					w.nAcked.Add(1)
				}
				if freshEvery > 0 && i%freshEvery == 0 {
					ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
					v, err := rvclient.Call[int64](ctx, c.GetOrCreate("counter", []string{uniq(prefix + "-new")}), "increment", 1)
					cancel()
					if err != nil || v != 1 {
						l.freshErr.Add(1)
						w.lastErr.Store(fmt.Sprintf("new actor: %d, %v", v, err))
					} else {
						l.fresh.Add(1)
					}
				}
				time.Sleep(50 * time.Millisecond) // a steady load, not a benchmark (small machines)
			}
		}()
	}
	return l
}

func (l *load) stop() {
	select {
	case <-l.stopc:
	default:
		close(l.stopc)
	}
	l.wg.Wait()
}

// minAcked is the fewest acknowledged writes of any writer.
func (l *load) minAcked() int64 {
	m := int64(-1)
	for _, w := range l.writers {
		if n := w.nAcked.Load(); m < 0 || n < m {
			m = n
		}
	}
	return m
}

func (l *load) summary() string {
	var b strings.Builder
	var att, ack, fail int64
	for _, w := range l.writers {
		att += w.attempts.Load()
		ack += w.nAcked.Load()
		fail += w.failures.Load()
	}
	fmt.Fprintf(&b, "%d writers: %d calls, %d acknowledged, %d failed; %d new actors (%d failed); slowest call %d ms",
		len(l.writers), att, ack, fail, l.fresh.Load(), l.freshErr.Load(), l.maxLat.Load())
	for _, w := range l.writers {
		if e, ok := w.lastErr.Load().(string); ok {
			fmt.Fprintf(&b, "\n  %s: last error: %s", w.key, e)
		}
	}
	return b.String()
}

// waitProgress waits until every writer has n more acknowledged writes.
func (s *suite) waitProgress(t *testing.T, l *load, n int64, what string, timeout time.Duration) {
	t.Helper()
	base := make([]int64, len(l.writers))
	for i, w := range l.writers {
		base[i] = w.nAcked.Load()
	}
	s.eventually(t, what, timeout, func(context.Context) (bool, string, error) {
		slow := 0
		for i, w := range l.writers {
			if w.nAcked.Load()-base[i] < n {
				slow++
			}
		}
		return slow == 0, fmt.Sprintf("%d of %d writers without %d new acknowledged writes; %s", slow, len(l.writers), n, l.summary()), nil
	})
}

// rollout: ActorVersion 2 is applied while a client loop runs: version 2
// becomes current, new actors land on it, version 1 drains to zero actors
// and zero replicas, and not one client call fails.
func (s *suite) rollout(t *testing.T) {
	l := s.startLoad(t, "rollout", 6, 25)
	defer l.stop()
	s.waitProgress(t, l, 10, "the client loop to run", time.Minute)

	ctx := ctxFor(t, 10*time.Minute)
	if err := s.k.Create(ctx, s.newVersion(2)); err != nil {
		s.fatalf(t, "create ActorVersion 2: %v", err)
	}
	s.eventually(t, "ActorVersion 2 Current with its runners ready", 5*time.Minute, func(ctx context.Context) (bool, string, error) {
		ok, st, err := s.versionServing(ctx, 2, minRunners)
		return ok, st + "; " + l.summary(), err
	})
	s.eventually(t, "version 1 drained and scaled to zero", 4*time.Minute, func(ctx context.Context) (bool, string, error) {
		av, err := s.getVersion(ctx, 1)
		if err != nil {
			return false, "", err
		}
		d := &appsv1.Deployment{}
		if err := s.k.Get(ctx, objKey(ns, poolName+"-v1"), d); err != nil {
			return false, "", err
		}
		pods, err := s.runnerPods(ctx, 1, true)
		if err != nil {
			return false, "", err
		}
		st, err := s.admin.PoolStatus(ctx, poolName)
		if err != nil {
			return false, "", err
		}
		status := fmt.Sprintf("v1 phase %q, actors %d (gateway: %d), deployment replicas %d, pods %d; %s",
			av.Status.Phase, av.Status.Actors, st.Versions["1"].Actors, ptr.Deref(d.Spec.Replicas, 1), len(pods), l.summary())
		return av.Status.Phase == rivetv1.PhaseDrained && st.Versions["1"].Actors == 0 && ptr.Deref(d.Spec.Replicas, 1) == 0 && len(pods) == 0, status, nil
	})
	// New actors keep being created by the loop; all of them, and every
	// moved one, are on version 2 now.
	// A writer creates a new actor every freshEvery calls, so wait for one
	// rather than for a fixed number of calls (a short window may hold none).
	freshBefore := l.fresh.Load()
	s.waitProgress(t, l, 10, "the client loop to go on after the drain", time.Minute)
	s.eventually(t, "a new actor created after the drain", time.Minute, func(context.Context) (bool, string, error) {
		return l.fresh.Load() > freshBefore, l.summary(), nil
	})
	st, err := s.admin.PoolStatus(ctx, poolName)
	if err != nil {
		s.fatalf(t, "admin pool status: %v", err)
	}
	for _, r := range st.Runners {
		if r.Version != 2 && r.Actors > 0 {
			s.fatalf(t, "runner %s of version %d still hosts %d actors", r.ID, r.Version, r.Actors)
		}
	}
	if st.Versions["2"].Actors == 0 || fmt.Sprint(st.Ready) != "[2]" {
		s.fatalf(t, "gateway: ready %v, version 2 actors %d; want [2] and the loop's actors", st.Ready, st.Versions["2"].Actors)
	}
	l.stop()
	t.Logf("rollout under load: %s", l.summary())
	var failed int64
	for _, w := range l.writers {
		failed += w.failures.Load() + w.gaps.Load()
	}
	if failed > 0 || l.freshErr.Load() > 0 {
		s.fatalf(t, "client calls failed during the rollout: %s", l.summary())
	}
	c := s.goClient(t, rvclient.EncodingCBOR)
	for _, w := range l.writers {
		n, err := rvclient.Call[int64](ctx, c.GetOrCreate("counter", []string{w.key}), "getCount")
		if err != nil || n != w.acked.Load() {
			s.fatalf(t, "counter %s = %d, %v after the rollout; want %d (every increment acknowledged)", w.key, n, err, w.acked.Load())
		}
	}
}

// runnerPodDeleted: a runner pod hosting actors is deleted (grace period 0)
// under a write load; the Deployment replaces it, the actors move, writes go
// on, and every acknowledged write is still there.
func (s *suite) runnerPodDeleted(t *testing.T) {
	l := s.startLoad(t, "failover", 8, 0)
	defer l.stop()
	s.waitProgress(t, l, 5, "the write load to run", time.Minute)
	ctx := ctxFor(t, 10*time.Minute)

	st, err := s.admin.PoolStatus(ctx, poolName)
	if err != nil {
		s.fatalf(t, "admin pool status: %v", err)
	}
	pods, err := s.runnerPods(ctx, 2, false)
	if err != nil {
		s.failf(t, "%v", err)
	}
	byIP := map[string]string{}
	for _, p := range pods {
		byIP[p.Status.PodIP] = p.Name
	}
	victim, most := "", 0
	for _, r := range st.Runners {
		host, _, _ := net.SplitHostPort(r.Address)
		if pod, ok := byIP[host]; ok && r.Alive && r.Actors > most {
			victim, most = pod, r.Actors
		}
	}
	if victim == "" {
		s.fatalf(t, "no live version-2 runner with actors matches a pod (runners %+v)", st.Runners)
	}
	t.Logf("deleting runner pod %s (hosting %d actors) with grace period 0", victim, most)
	if err := s.k.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: victim, Namespace: ns}}, client.GracePeriodSeconds(0)); err != nil {
		s.fatalf(t, "delete pod %s: %v", victim, err)
	}
	s.eventually(t, "a replacement runner pod and live runners again", 4*time.Minute, func(ctx context.Context) (bool, string, error) {
		pods, err := s.runnerPods(ctx, 2, true)
		if err != nil {
			return false, "", err
		}
		for _, p := range pods {
			if p.Name == victim {
				return false, "the deleted pod still exists", nil
			}
		}
		st, err := s.admin.PoolStatus(ctx, poolName)
		if err != nil {
			return false, "", err
		}
		live := st.Versions["2"].LiveRunners
		return countReady(pods) == minRunners && live == minRunners,
			fmt.Sprintf("ready pods %d, live runners %d; %s", countReady(pods), live, l.summary()), nil
	})
	s.waitProgress(t, l, 10, "writes to go on after the pod's deletion", 2*time.Minute)
	l.stop()
	t.Logf("writes across the runner pod's deletion: %s", l.summary())
	c := s.goClient(t, rvclient.EncodingJSON)
	for _, w := range l.writers {
		n, err := rvclient.Call[int64](ctx, c.GetOrCreate("counter", []string{w.key}), "getCount")
		if err != nil {
			s.fatalf(t, "counter %s: %v", w.key, err)
		}
		// Every acknowledged increment is there; a failed one may or may not be.
		if n < w.acked.Load() || n > w.attempts.Load() {
			s.fatalf(t, "counter %s = %d: want between the last acknowledged value %d and the %d attempts (lost an acknowledged write?)",
				w.key, n, w.acked.Load(), w.attempts.Load())
		}
	}
}

// autoscale: with a low target of actors per runner, many awake actors
// scale the pool up to maxReplicas; when they go to sleep it scales back
// down to minReplicas, one drained runner at a time.
func (s *suite) autoscale(t *testing.T) {
	ctx := ctxFor(t, 15*time.Minute)
	const target, actors = 5, 24 // ceil(24/5) = 5, clamped to maxRunners (4)
	p, err := s.getPool(ctx)
	if err != nil {
		s.failf(t, "%v", err)
	}
	patch := client.MergeFrom(p.DeepCopy())
	p.Spec.Autoscaling.TargetActorsPerRunner = target
	if err := s.k.Patch(ctx, p, patch); err != nil {
		s.fatalf(t, "patch targetActorsPerRunner: %v", err)
	}

	c := s.goClient(t, rvclient.EncodingBARE)
	var conns []*rvclient.Conn
	defer func() {
		for _, cn := range conns {
			_ = cn.Close()
		}
	}()
	for i := 0; i < actors; i++ {
		cn, err := c.GetOrCreate("counter", []string{uniq("scale")}).Connect(ctx)
		if err != nil {
			s.fatalf(t, "connect to actor %d: %v", i, err)
		}
		conns = append(conns, cn)
		if _, err := rvclient.Call[int64](ctx, cn, "increment", 1); err != nil {
			s.fatalf(t, "increment actor %d: %v", i, err)
		}
	}
	t.Logf("%d actors awake, held by WebSocket connections", actors)
	s.eventually(t, fmt.Sprintf("the pool to scale up to %d runners", maxRunners), 5*time.Minute, func(ctx context.Context) (bool, string, error) {
		return s.poolAt(ctx, maxRunners)
	})
	// The connections stayed up while runners were added.
	for i, cn := range conns {
		if _, err := rvclient.Call[int64](ctx, cn, "getCount"); err != nil {
			s.fatalf(t, "actor %d after the scale-up: %v", i, err)
		}
	}
	for _, cn := range conns {
		_ = cn.Close()
	}
	conns = nil
	t.Log("connections closed; the actors go to sleep after their idle timeout")
	s.eventually(t, fmt.Sprintf("the pool to scale back down to %d runners", minRunners), 6*time.Minute, func(ctx context.Context) (bool, string, error) {
		return s.poolAt(ctx, minRunners)
	})
}

// poolAt: the pool wants n runners and has exactly n ready version-2 pods,
// all live in the gateway.
func (s *suite) poolAt(ctx context.Context, n int) (bool, string, error) {
	p, err := s.getPool(ctx)
	if err != nil {
		return false, "", err
	}
	// The pool's current version: 2 after the rollout scenario, 3 after the
	// progressive one.
	cur := p.Status.CurrentVersion
	pods, err := s.runnerPods(ctx, int(cur), true)
	if err != nil {
		return false, "", err
	}
	st, err := s.admin.PoolStatus(ctx, poolName)
	if err != nil {
		return false, "", err
	}
	var per []string
	for _, r := range st.Runners {
		if r.Alive {
			per = append(per, fmt.Sprintf("%s=%d", r.Address, r.Actors))
		}
	}
	sort.Strings(per)
	live := st.Versions[fmt.Sprint(cur)].LiveRunners
	status := fmt.Sprintf("version %d: pool actors %d, desired %d, replicas %d; pods %d (ready %d); gateway: %d actors, live runners %d [%s]",
		cur, p.Status.Actors, p.Status.DesiredReplicas, p.Status.Replicas, len(pods), countReady(pods), st.Actors, live, strings.Join(per, " "))
	ok := cur > 0 && p.Status.DesiredReplicas == int32(n) && p.Status.Replicas == int32(n) && len(pods) == n && countReady(pods) == n && live == n
	return ok, status, nil
}
