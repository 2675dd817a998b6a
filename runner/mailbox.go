package runner

import "time"

// mailboxLinger is how long the loop's goroutine waits for more work once
// the mailbox is empty before it parks: an actor called again soon (a
// client's next call, a busy actor between two calls) keeps its goroutine
// and its grown stack instead of starting a new one per call, which cost
// about 8 µs of CPU per sequential action (go run ./bench -only read).
const mailboxLinger = 2 * time.Millisecond

// The mailbox loop, parked while the actor is idle.
//
// An awake actor holds no goroutine while its mailbox is empty: the loop
// runs on a goroutine started when work arrives (a task, a stop request,
// a due alarm), runs until nothing is left, lingers mailboxLinger for more
// (kicked at once when work comes), and exits ("parks"). Timers
// are runtime timers (time.AfterFunc) whose callbacks only set a flag and
// start the loop, so a sleeping countdown or a schedule costs no goroutine
// either.
//
// Invariants (all under in.mu):
//   - looping is set while exactly one goroutine owns the loop: it runs the
//     loop, a task, a grant, or the stop sequence. Only the owner clears it,
//     and only after it found nothing to do under the same lock; whoever
//     adds work while it is clear (unparkLocked) sets it and starts the
//     goroutine. So work is never left in a parked mailbox, and two loops
//     never run at once.
//   - Once the instance is stopping or stopped, looping stays set: the stop
//     sequence owns the loop and nothing restarts it.
//   - A task that leaves the loop's goroutine at a wait point hands the
//     loop over (detachLoop): to a new goroutine if work waits, else the
//     mailbox parks. The task's goroutine leaves the loop when it ends.
//   - rt.wg counts every loop goroutine while it runs, and the instance
//     itself until its stop sequence ends, so a loop goroutine is only ever
//     added while the count is positive.

// unparkLocked reports whether the caller must start a loop goroutine
// (goLoop): the mailbox is parked and work waits. It marks the loop owned.
// in.mu is held.
func (in *Instance) unparkLocked() bool {
	if in.looping {
		if in.kick != nil { // the loop lingers: it goes on at once
			select {
			case in.kick <- struct{}{}:
			default:
			}
		}
		return false
	}
	if in.state != stateRunning {
		return false
	}
	if in.tasks.len() == 0 && !in.alarmDue && in.stopReq == nil {
		return false
	}
	in.looping = true
	return true
}

// goLoop runs the mailbox loop on a new goroutine (after unparkLocked).
func (in *Instance) goLoop() {
	in.rt.wg.Add(1)
	go func() {
		defer in.rt.wg.Done()
		in.loop()
	}()
}

// detachLoop hands the loop over when the task running on it stays at a
// wait point: the loop goes on on a new goroutine if work waits, else the
// mailbox parks. The caller's goroutine leaves the loop when its task ends.
func (in *Instance) detachLoop() {
	in.mu.Lock()
	in.looping = false
	start := in.unparkLocked()
	if !start {
		in.armSleepLocked()
	}
	in.mu.Unlock()
	if start {
		in.goLoop()
	}
}

// loop is the mailbox: it runs queued tasks one at a time, fires due
// schedules and begins the stop sequence when one is requested, until
// nothing is left; then it parks (returns). A task that waits moves the
// loop to another goroutine (detachLoop) and this one returns when the
// task ends.
func (in *Instance) loop() {
	lingered := false
	for {
		in.mu.Lock()
		req := in.stopReq
		if req != nil && *req == stopSleep && !in.idleLocked() && !in.forceStop.Load() {
			// Work arrived or a connection is open: stay awake.
			in.stopReq = nil
			req = nil
		}
		if req != nil {
			in.state = stateStopping
			in.mu.Unlock()
			in.stop(*req)
			return
		}
		if in.alarmDue {
			in.alarmDue = false
			in.mu.Unlock()
			in.fireAlarm()
			continue
		}
		if in.tasks.len() == 0 {
			in.armSleepLocked()
			if !lingered {
				in.linger()
				lingered = true
				continue
			}
			in.looping = false
			in.mu.Unlock()
			return
		}
		lingered = false
		t := in.tasks.pop()
		in.mu.Unlock()
		if in.runTask(t) {
			return // the task waited: the loop went on elsewhere
		}
		in.mu.Lock()
		in.inflight--
		idle := in.idleLocked()
		in.mu.Unlock()
		in.armAlarm()
		if in.destroyWanted {
			in.requestStop(stopDestroy)
		} else if in.sleepWanted && idle {
			in.requestStop(stopSleep)
		}
	}
}

// linger waits up to mailboxLinger for work (unparkLocked kicks it), still
// owning the loop. in.mu is held on entry and released on return.
func (in *Instance) linger() {
	kick := make(chan struct{}, 1)
	in.kick = kick
	in.mu.Unlock()
	t := time.NewTimer(mailboxLinger)
	select {
	case <-kick:
	case <-t.C:
	}
	t.Stop()
	in.mu.Lock()
	in.kick = nil
	in.mu.Unlock()
}

// fireAlarm runs the schedules that are due (on the loop).
func (in *Instance) fireAlarm() {
	if err := in.gateErr(); err != nil {
		in.requestStop(stopFailed)
	} else {
		in.fireDue()
	}
	in.armAlarm()
	if in.destroyWanted {
		in.requestStop(stopDestroy)
	}
}

// armAlarm sets the alarm timer to the earliest schedule, or stops it when
// there is none. It runs on the goroutine holding the actor.
func (in *Instance) armAlarm() {
	d, ok := in.nextDue()
	switch {
	case ok && in.alarmTimer == nil:
		in.alarmTimer = time.AfterFunc(d, in.alarmFired)
	case ok:
		in.alarmTimer.Reset(d)
	case in.alarmTimer != nil:
		in.alarmTimer.Stop()
	}
}

// alarmFired is the alarm timer's callback: the loop fires what is due. A
// callback that raced a Reset finds nothing due; fireDue checks the times.
func (in *Instance) alarmFired() {
	in.mu.Lock()
	in.alarmDue = true
	start := in.unparkLocked()
	in.mu.Unlock()
	if start {
		in.goLoop()
	}
}

// armSleepLocked starts the sleep countdown if nothing keeps the actor
// awake. in.mu is held.
func (in *Instance) armSleepLocked() {
	if in.state != stateRunning || in.cfg.NoSleep || !in.idleLocked() {
		return
	}
	in.sleepAt = time.Since(monoEpoch) + in.sleepTimeout()
	in.rt.sleeper.arm(in, in.sleepAt)
}

// sleepDue is the sleeper's call when the instance's entry fell due at
// now: the actor sleeps, unless the countdown was restarted since (the
// entry goes back in with the new deadline) or work keeps it awake (the
// loop checks that).
func (in *Instance) sleepDue(now time.Duration) {
	in.mu.Lock()
	if now < in.sleepAt {
		if in.state == stateRunning {
			in.rt.sleeper.arm(in, in.sleepAt)
		}
		in.mu.Unlock()
		return
	}
	in.mu.Unlock()
	in.requestStop(stopSleep)
}

// stopTimers takes the instance out of the sleeper and stops its alarm
// timer (the stop sequence, on the loop).
func (in *Instance) stopTimers() {
	in.rt.sleeper.disarm(in)
	if in.alarmTimer != nil {
		in.alarmTimer.Stop()
	}
}
