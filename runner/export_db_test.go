package runner

import "github.com/rivetkube/rivetkube/internal/pagedb"

// DBStatsForTest returns the SQL database counters of the awake actor id,
// read on its mailbox; false when it is not awake.
func (rt *Runtime) DBStatsForTest(id string) (pagedb.Stats, bool) {
	rt.mu.Lock()
	in := rt.actors[id]
	rt.mu.Unlock()
	if in == nil {
		return pagedb.Stats{}, false
	}
	var st pagedb.Stats
	done := make(chan bool, 1)
	if err := in.enqueue(task{
		run: func() {
			if in.dbs.db != nil {
				st = in.dbs.db.Stats()
			}
			done <- true
		},
		abort: func(error) { done <- false },
	}); err != nil {
		return st, false
	}
	return st, <-done
}
