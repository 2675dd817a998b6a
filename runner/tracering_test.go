package runner

import (
	"strconv"
	"testing"
	"time"
)

func TestTraceRingKeepsMostRecentAndGrowsOnDemand(t *testing.T) {
	var r traceRing
	base := time.Unix(0, 0)
	add := func(i int) {
		at := base.Add(time.Duration(i) * time.Second)
		r.add(span{Name: strconv.Itoa(i), Kind: "action", Start: at, End: at})
	}
	for i := range 3 {
		add(i)
	}
	if cap(r.spans) >= maxSpans {
		t.Fatalf("3 spans hold a buffer of %d", cap(r.spans))
	}
	got, trace := r.list(time.Time{}, time.Time{}, 10)
	if len(got) != 3 || got[0].Name != "2" || got[2].Name != "0" || trace == "" {
		t.Fatalf("list = %v, trace %q; want 2, 1, 0", got, trace)
	}
	for i := 3; i < 2*maxSpans+7; i++ {
		add(i)
	}
	if len(r.spans) != maxSpans {
		t.Fatalf("ring holds %d spans, want %d", len(r.spans), maxSpans)
	}
	got, _ = r.list(time.Time{}, time.Time{}, 2*maxSpans)
	if len(got) != maxSpans {
		t.Fatalf("list returned %d spans, want %d", len(got), maxSpans)
	}
	last := 2*maxSpans + 6
	for i, s := range got {
		if s.Name != strconv.Itoa(last-i) {
			t.Fatalf("span %d is %s, want %d (newest first)", i, s.Name, last-i)
		}
	}
	// Time bounds still filter.
	from := base.Add(time.Duration(last-4) * time.Second)
	got, _ = r.list(from, time.Time{}, 100)
	if len(got) != 5 || got[4].Name != strconv.Itoa(last-4) {
		t.Fatalf("list from %v = %d spans", from, len(got))
	}
}
