package latch

import (
	"context"
	"testing"
	"time"
)

func TestLatch(t *testing.T) {
	var l Latch
	if !l.IsOpen() || !l.Wait(context.Background()) {
		t.Fatal("zero latch is not open")
	}
	l.Close()
	if l.IsOpen() {
		t.Fatal("closed latch reports open")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if l.Wait(ctx) {
		t.Fatal("Wait on a closed latch returned true before Open")
	}
	done := make(chan bool)
	go func() { done <- l.Wait(context.Background()) }()
	l.Open()
	if !<-done {
		t.Fatal("Wait did not see Open")
	}
	l.Open() // no-op
	if !l.IsOpen() {
		t.Fatal("latch not open after Open")
	}
}
