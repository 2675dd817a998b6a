package store

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rivetkube/rivetkube/internal/metrics"
)

// fencingWriter refuses writes of generation 0 as fenced and fails whole
// batches while down is set.
type fencingWriter struct{ down bool }

func (f *fencingWriter) Commit(_ context.Context, ws []Write) ([]error, error) {
	if f.down {
		return nil, errors.New("store down")
	}
	out := make([]error, len(ws))
	for i, w := range ws {
		if w.Generation == 0 {
			out[i] = ErrFenced
		}
	}
	return out, nil
}

func TestCommitterMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	fw := &fencingWriter{}
	sm := metrics.NewStore(reg)
	c := NewCommitter(fw, CommitterOptions{Metrics: sm})
	ctx := context.Background()
	for _, gen := range []uint64{1, 0, 2} {
		p, err := c.Submit(ctx, Write{ActorID: "a", Generation: gen})
		if err != nil {
			t.Fatal(err)
		}
		_ = p.Err()
	}
	c.Close()
	fw.down = true
	c = NewCommitter(fw, CommitterOptions{Metrics: sm})
	p, err := c.Submit(ctx, Write{ActorID: "a", Generation: 3})
	if err != nil {
		t.Fatal(err)
	}
	if p.Err() == nil {
		t.Fatal("a write committed while the store was down")
	}
	c.Close()

	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "/" + l.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				got[name] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				got[name+"/count"] = float64(m.GetHistogram().GetSampleCount())
				got[name+"/sum"] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	want := map[string]float64{
		"rivetkube_store_commits_total/ok":              3, // each write waited for its commit: three batches
		"rivetkube_store_commits_total/error":           1, // the batch while the store was down
		"rivetkube_store_commit_batch_size/count":       4,
		"rivetkube_store_commit_batch_size/sum":         4,
		"rivetkube_store_commit_duration_seconds/count": 4,
		"rivetkube_store_fence_failures_total":          1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}
