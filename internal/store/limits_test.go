package store

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// TestLimits pins the documented limits with literal sizes (the
// conformance suite uses the constants), so a changed constant is a
// visible contract change.
func TestLimits(t *testing.T) {
	t.Parallel()
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	str := strings.Repeat
	sched := func(id, action string, args int, at time.Time) Write {
		return Write{ActorID: "a", SchedulePuts: []Schedule{{ID: id, Action: action, Args: make([]byte, args), At: at}}}
	}
	step := func(f func(*WorkflowStep)) Write {
		st := WorkflowStep{Workflow: "wf", Name: "n", Status: StepRunning}
		f(&st)
		return Write{ActorID: "a", WorkflowSteps: []WorkflowStep{st}}
	}
	for _, tc := range []struct {
		what string
		err  error
		ok   bool
	}{
		{"queue name 256", ValidateEnqueue("a", str("n", 256), nil), true},
		{"queue name 257", ValidateEnqueue("a", str("n", 257), nil), false},
		{"queue name empty", ValidateEnqueue("a", "", nil), false},
		{"queue body 1 MiB", ValidateEnqueue("a", "n", make([]byte, 1<<20)), true},
		{"queue body 1 MiB + 1", ValidateEnqueue("a", "n", make([]byte, 1<<20+1)), false},
		{"enqueue without actor", ValidateEnqueue("", "n", nil), false},
		{"schedule id 128", ValidateWrite(sched(str("i", 128), "f", 0, at)), true},
		{"schedule id 129", ValidateWrite(sched(str("i", 129), "f", 0, at)), false},
		{"action 256", ValidateWrite(sched("s", str("f", 256), 0, at)), true},
		{"action 257", ValidateWrite(sched("s", str("f", 257), 0, at)), false},
		{"args 1 MiB", ValidateWrite(sched("s", "f", 1<<20, at)), true},
		{"args 1 MiB + 1", ValidateWrite(sched("s", "f", 1<<20+1, at)), false},
		{"schedule at 1900", ValidateWrite(sched("s", "f", 0, time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC))), true},
		{"schedule before 1900", ValidateWrite(sched("s", "f", 0, time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC))), false},
		{"schedule at 2200", ValidateWrite(sched("s", "f", 0, time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC))), true},
		{"schedule after 2200", ValidateWrite(sched("s", "f", 0, time.Date(2200, 1, 1, 0, 0, 0, 1, time.UTC))), false},
		{"schedule delete id 129", ValidateWrite(Write{ActorID: "a", ScheduleDeletes: []string{str("i", 129)}}), false},
		{"workflow id 256", ValidateWrite(step(func(s *WorkflowStep) { s.Workflow = str("w", 256) })), true},
		{"workflow id 257", ValidateWrite(step(func(s *WorkflowStep) { s.Workflow = str("w", 257) })), false},
		{"step name 256", ValidateWrite(step(func(s *WorkflowStep) { s.Name = str("n", 256) })), true},
		{"step name 257", ValidateWrite(step(func(s *WorkflowStep) { s.Name = str("n", 257) })), false},
		{"result 1 MiB", ValidateWrite(step(func(s *WorkflowStep) { s.Result = make([]byte, 1<<20) })), true},
		{"result 1 MiB + 1", ValidateWrite(step(func(s *WorkflowStep) { s.Result = make([]byte, 1<<20+1) })), false},
		{"error 4 KiB", ValidateWrite(step(func(s *WorkflowStep) { s.Error = str("e", 4096) })), true},
		{"error 4 KiB + 1", ValidateWrite(step(func(s *WorkflowStep) { s.Error = str("e", 4097) })), false},
		{"status completed", ValidateWrite(step(func(s *WorkflowStep) { s.Status = "completed" })), true},
		{"status failed", ValidateWrite(step(func(s *WorkflowStep) { s.Status = "failed" })), true},
		{"status empty", ValidateWrite(step(func(s *WorkflowStep) { s.Status = "" })), false},
		{"attempts max int32", ValidateWrite(step(func(s *WorkflowStep) { s.Attempts = math.MaxInt32 })), true},
		{"attempts max int32 + 1", ValidateWrite(step(func(s *WorkflowStep) { s.Attempts = math.MaxInt32 + 1 })), false},
		{"workflow delete 257", ValidateWrite(Write{ActorID: "a", WorkflowDeletes: []string{str("w", 257)}}), false},
		{"ack max int64", ValidateWrite(Write{ActorID: "a", QueueAcks: []uint64{math.MaxInt64}}), true},
	} {
		if tc.ok && tc.err != nil {
			t.Errorf("%s: %v, want accepted", tc.what, tc.err)
		}
		if !tc.ok && !errors.Is(tc.err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", tc.what, tc.err)
		}
	}
}

func TestTruncTime(t *testing.T) {
	t.Parallel()
	if got := TruncTime(time.Time{}); !got.IsZero() {
		t.Fatalf("TruncTime(zero) = %v", got)
	}
	for _, in := range []time.Time{time.Unix(1_700_000_000, 123_456_789), time.Unix(-2_000_000_000, 999)} {
		got := TruncTime(in)
		if got.Nanosecond()%1000 != 0 || in.Sub(got) < 0 || in.Sub(got) >= time.Microsecond {
			t.Fatalf("TruncTime(%v) = %v", in, got)
		}
	}
}
