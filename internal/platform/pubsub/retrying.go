package pubsub

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform"
)

// RetryQueueSize bounds the events waiting to be published again.
const RetryQueueSize = 10_000

// Retrying publishes through another Publisher and does not give up on an
// event the broker refuses (after daprd's own retries, a few seconds): the
// event waits in a bounded in-memory queue that one goroutine publishes
// again, oldest first, waiting longer (up to a minute) while the broker
// keeps refusing, until it takes it. Publish fails only when the queue is
// full. Consumers are idempotent, so an event published twice (the broker
// took it but the answer was lost) does no harm. A crash loses what is
// queued: an event that must survive a crash goes through an outbox.
type Retrying struct {
	pub     Publisher
	timeout time.Duration
	backoff time.Duration
	queue   chan events.Event
	start   sync.Once
	lost    atomic.Int64
}

// NewRetrying wraps pub.
func NewRetrying(pub Publisher) *Retrying {
	return &Retrying{pub: pub, timeout: 5 * time.Second, backoff: time.Second, queue: make(chan events.Event, RetryQueueSize)}
}

// Publish publishes e, waiting for the broker's answer. A refusal queues e
// to be published again and is not the caller's error; a full queue is.
func (r *Retrying) Publish(ctx context.Context, e events.Event) error {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
	err := r.pub.Publish(pctx, e)
	cancel()
	if err == nil {
		return nil
	}
	r.start.Do(func() { go r.resend() })
	select {
	case r.queue <- e:
		platform.Logger(ctx).Warn("event queued to be published again", slog.String("topic", e.Topic()), slog.String("error", err.Error()))
		return nil
	default:
		r.lost.Add(1)
		return err
	}
}

// Pending is how many events wait to be published again.
func (r *Retrying) Pending() int { return len(r.queue) }

// Lost counts events the full queue could not hold.
func (r *Retrying) Lost() int64 { return r.lost.Load() }

func (r *Retrying) resend() {
	wait := r.backoff
	for e := range r.queue {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
			err := r.pub.Publish(ctx, e)
			cancel()
			if err == nil {
				wait = r.backoff
				break
			}
			time.Sleep(wait)
			wait = min(2*wait, time.Minute)
		}
	}
}
