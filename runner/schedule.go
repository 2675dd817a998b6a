package runner

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/rivetkube/rivetkube/internal/store"
)

// Scheduler schedules durable calls of the actor's own actions. A schedule
// is committed with the action that made it; it survives sleep, restarts
// and moves, wakes a sleeping actor when due, and fires once: a schedule
// missed during downtime fires once when the actor is next awake, not
// once per missed moment.
type Scheduler struct {
	in *Instance
}

// ScheduledCall is one pending schedule.
type ScheduledCall struct {
	ID     string
	At     time.Time
	Action string
	Args   Args
}

// MaxSchedules bounds the pending schedules of one actor.
const MaxSchedules = 10000

// After schedules action(args...) after d.
func (s *Scheduler) After(d time.Duration, action string, args ...any) (string, error) {
	return s.At(time.Now().Add(d), action, args...)
}

// At schedules action(args...) at t.
func (s *Scheduler) At(t time.Time, action string, args ...any) (string, error) {
	in := s.in
	if !in.beh.HasAction(action) {
		return "", fmt.Errorf("rivet: schedule: actor %q has no action %q", in.def.Name(), action)
	}
	if len(in.schedules) >= MaxSchedules {
		return "", fmt.Errorf("rivet: schedule: the actor already has %d pending schedules", MaxSchedules)
	}
	if t.Year() < 1970 || t.Year() > 2199 {
		return "", fmt.Errorf("rivet: schedule: time %s is outside 1970..2199", t.Format(time.RFC3339))
	}
	b, err := encodeArgs(args)
	if err != nil {
		return "", err
	}
	if len(b) > store.MaxScheduleArgsSize {
		return "", fmt.Errorf("rivet: schedule: arguments are %d bytes, limit is %d", len(b), store.MaxScheduleArgsSize)
	}
	// The store keeps microseconds; so does the in-memory copy.
	sc := store.Schedule{ActorID: in.id, ID: uuid.NewString(), At: t.UTC().Truncate(time.Microsecond), Action: action, Args: b}
	in.putSchedule(sc)
	pw := in.pending()
	pw.schedPuts = append(pw.schedPuts, sc)
	return sc.ID, nil
}

// List returns the pending schedules, earliest first.
func (s *Scheduler) List() []ScheduledCall {
	out := make([]ScheduledCall, 0, len(s.in.schedules))
	for _, sc := range s.in.sortedSchedules() {
		if sc.Action == wakeAction {
			continue // a workflow's durable sleep, not the user's
		}
		args, _ := decodeArgs(sc.Args)
		out = append(out, ScheduledCall{ID: sc.ID, At: sc.At, Action: sc.Action, Args: args})
	}
	return out
}

// Cancel removes a pending schedule; it reports whether it existed.
func (s *Scheduler) Cancel(id string) bool {
	if _, ok := s.in.schedules[id]; !ok {
		return false
	}
	delete(s.in.schedules, id)
	pw := s.in.pending()
	pw.schedDels = append(pw.schedDels, id)
	return true
}

func (in *Instance) sortedSchedules() []store.Schedule {
	out := make([]store.Schedule, 0, len(in.schedules))
	for _, sc := range in.schedules {
		out = append(out, sc)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.Before(out[j].At)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// putSchedule adds or replaces sc in the actor's schedules (mailbox only;
// the map is made on first use, so an actor without schedules holds none).
func (in *Instance) putSchedule(sc store.Schedule) {
	if in.schedules == nil {
		in.schedules = map[string]store.Schedule{}
	}
	in.schedules[sc.ID] = sc
}

// nextDue returns how long until the earliest schedule (ok false: none).
func (in *Instance) nextDue() (time.Duration, bool) {
	var first time.Time
	for _, sc := range in.schedules {
		if first.IsZero() || sc.At.Before(first) {
			first = sc.At
		}
	}
	if first.IsZero() {
		return 0, false
	}
	return max(time.Until(first), 0), true
}

// fireDue runs every due schedule, each as its own task on the mailbox
// goroutine: the action runs, the schedule is removed in the same commit.
func (in *Instance) fireDue() {
	now := time.Now()
	for _, sc := range in.sortedSchedules() {
		if sc.At.After(now) {
			return
		}
		delete(in.schedules, sc.ID)
		pw := in.pending()
		pw.schedDels = append(pw.schedDels, sc.ID)
		if sc.Action == wakeAction {
			// A durable workflow sleep ends: waking the actor was the point.
			if _, err := in.flush(); err != nil {
				in.logger().Warn("commit after wake schedule", "err", err)
			}
			continue
		}
		ctx, cancel := in.taskContext(context.Background(), in.actionTimeout())
		in.taskActive.Store(true)
		_, err := in.runAction(ctx, nil, sc.Action, sc.Args)
		in.taskActive.Store(false)
		cancel()
		in.rt.metrics.ScheduleFired()
		if err != nil {
			in.logger().Warn("scheduled action failed", "action", sc.Action, "schedule", sc.ID, "err", err)
		}
		if _, err := in.flush(); err != nil {
			in.logger().Warn("commit after scheduled action", "err", err)
		}
		if in.destroyWanted || in.stopRequested() {
			return
		}
	}
}

func (in *Instance) stopRequested() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stopReq != nil
}

// scanDue wakes sleeping actors whose schedules are due or who have queued
// messages (the local engine's alarm clock; in the distributed engine the
// gateway leader does this).
func (rt *Runtime) ScanDue(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ids, err := rt.store.DueActors(ctx, 256)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				rt.log.Warn("scan due actors", "err", err)
			}
			continue
		}
		for _, id := range ids {
			wctx, cancel := context.WithTimeout(ctx, rt.limits.StartTimeout)
			if err := rt.Wake(wctx, hostTarget(id)); err != nil {
				rt.log.Debug("wake due actor", "actor_id", id, "err", err)
			}
			cancel()
		}
	}
}
