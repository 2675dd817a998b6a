package store

import (
	"errors"
	"time"
)

// observe records one group commit in the committer's metrics: writes in
// the batch, its duration, and the writes refused as fenced.
func (c *Committer) observe(writes int, d time.Duration, perWrite []error, err error) {
	if c.metrics == nil {
		return
	}
	fenced := 0
	if err == nil {
		for _, e := range perWrite {
			if errors.Is(e, ErrFenced) {
				fenced++
			}
		}
	}
	c.metrics.Commit(writes, fenced, d, err)
}
