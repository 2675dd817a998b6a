package runner

import (
	"context"
	"errors"
	"testing"
	"time"
)

type lifeKey struct{}

// The lifetime context is made on first use and behaves like a cancelable
// context: derived contexts (directly or through WithValue) end when it
// ends, and one derived after the end is done at once.
func TestLifetimeContext(t *testing.T) {
	in := &Instance{id: "a"}
	life := in.lifetime()
	if life.Err() != nil || in.life.Load() != nil {
		t.Fatal("a fresh lifetime is ended or already made")
	}
	direct, cancelDirect := context.WithCancel(life)
	defer cancelDirect()
	viaValue, cancelValue := context.WithTimeout(context.WithValue(life, lifeKey{}, 1), time.Hour)
	defer cancelValue()
	if viaValue.Value(lifeKey{}) != 1 {
		t.Fatal("value lost")
	}
	in.endLifetime()
	for _, ctx := range []context.Context{life, direct, viaValue} {
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("a context did not end with the lifetime")
		}
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", ctx.Err())
		}
	}
	late, cancelLate := context.WithCancel(life)
	defer cancelLate()
	if late.Err() == nil {
		t.Fatal("a context derived after the end is not done")
	}

	// Ended before anyone asked for it: nothing was made, and it is done.
	in2 := &Instance{id: "b"}
	in2.endLifetime()
	if in2.lifetime().Err() == nil {
		t.Fatal("an ended lifetime has no error")
	}
	<-in2.lifetime().Done()
}
