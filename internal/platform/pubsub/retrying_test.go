package pubsub

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/internal/events"
)

type refusing struct {
	mu    sync.Mutex
	fails int
	got   []events.Event
}

func (f *refusing) Publish(_ context.Context, e events.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fails > 0 {
		f.fails--
		return errors.New("broker away")
	}
	f.got = append(f.got, e)
	return nil
}

func (f *refusing) published() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got)
}

// A broker that refuses for a while loses nothing: the event is published
// again once it takes it, and the caller was not failed.
func TestRetryingPublishesLater(t *testing.T) {
	pub := &refusing{fails: 4}
	r := NewRetrying(pub)
	r.backoff = time.Millisecond
	e := events.UserRegistered{UserID: "u1", RegisteredAt: time.Now()}
	if err := r.Publish(context.Background(), e); err != nil {
		t.Fatalf("a refusal failed the caller: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for pub.published() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if pub.published() != 1 || r.Pending() != 0 || r.Lost() != 0 {
		t.Fatalf("published %d, pending %d, lost %d", pub.published(), r.Pending(), r.Lost())
	}
}

// What the full queue cannot hold is the caller's error, and counted.
func TestRetryingFullQueueFails(t *testing.T) {
	pub := &refusing{fails: 1 << 30}
	r := NewRetrying(pub)
	r.queue = make(chan events.Event) // no room: the resender holds at most one
	r.backoff = time.Hour
	var errs int
	for i := 0; i < 3; i++ {
		if r.Publish(context.Background(), events.UserRegistered{UserID: "u1", RegisteredAt: time.Now()}) != nil {
			errs++
		}
	}
	if errs < 2 || r.Lost() < 2 {
		t.Fatalf("%d errors, %d lost, want the events the queue could not hold", errs, r.Lost())
	}
}
