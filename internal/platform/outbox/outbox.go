// Package outbox publishes an event exactly when the state change that
// announces it commits, and never leaves a delivery worker spinning.
//
// It is Dapr's transactional-outbox algorithm, run by the app instead of by
// daprd: before the state transaction, a notice naming a fresh event id goes
// to the app's own notice topic (<app>.outbox); the transaction commits the
// change together with a marker (outbox|<id>) that holds the event; the
// app's relay, subscribed to its notice topic, reads the marker and
// publishes the event under that id, then marks it done. A notice whose
// marker never appears (the transaction failed) is dropped after a bounded
// wait. The broker is the index of what may need publishing, so no state
// store has to list keys.
//
// Why not daprd's own outbox: in Dapr 1.18.1 its relay retries the marker
// lookup with a backoff that lacks backoff.Stop, so after ten seconds the
// retry never ends and spins without pause. Every notice whose transaction
// failed (an ETag conflict, a database error, a sidecar killed in between)
// or that was delivered twice pins one of the pub/sub component's workers
// for good; ten of them and the app's events stop for every topic until the
// sidecar restarts (docs/operations.md, "The outbox").
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

// Topic is app's notice topic.
func Topic(app string) string { return app + ".outbox" }

// Key is the marker's key for an event id.
func Key(eventID string) string { return "outbox|" + eventID }

// Notice announces, before its transaction, that an event may commit.
type Notice struct {
	EventID string    `json:"eventId"`
	Topic   string    `json:"topic"`
	At      time.Time `json:"at"`
}

// Marker is stored with the change: the event, until it is published.
type Marker struct {
	Topic string          `json:"topic"`
	Data  json.RawMessage `json:"data,omitempty"`
	At    time.Time       `json:"at"`
	Done  bool            `json:"done,omitempty"`
}

// MarkerTTL bounds how long a marker is kept (published or not): far longer
// than any notice can wait, short enough that markers do not pile up.
const MarkerTTL = 7 * 24 * 3600

// DoneTTL is how long a published event's marker stays, so a notice
// delivered twice is answered at once.
const DoneTTL = 24 * 3600

// MarkerOp is the marker to commit with the change that announces data.
func MarkerOp(eventID, topic string, data any, at time.Time) (state.Op, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return state.Op{}, err
	}
	b, err := json.Marshal(Marker{Topic: topic, Data: raw, At: at.UTC()})
	if err != nil {
		return state.Op{}, err
	}
	return state.Op{Key: Key(eventID), Value: b, TTLSeconds: MarkerTTL}, nil
}

// Publisher publishes an event's data as a CloudEvent with the given id, so
// a second publication of the same event is recognised by its consumers.
type Publisher interface {
	PublishWithID(ctx context.Context, topic, id string, data json.RawMessage) error
}

// Relay publishes the events whose markers committed.
type Relay struct {
	KV  state.KV
	Pub Publisher
	// Wait bounds how long a notice waits for its marker (the transaction
	// may still be running) before it is dropped as a failed transaction:
	// longer than a state transaction may take (the components' timeouts),
	// shorter than the notice component's processingTimeout.
	Wait time.Duration
	// Stale: a notice older than this whose marker is absent is dropped at
	// once (delivered again long after its marker was gone).
	Stale time.Duration
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Outcomes of one notice, for metrics and tests.
const (
	Published = "published"
	Already   = "already"   // the marker said done: delivered twice
	Abandoned = "abandoned" // no marker within Wait: the transaction failed
)

// Handle relays one notice. An error asks for redelivery (the store or the
// broker failed); a notice whose marker never appears is not an error.
func (r *Relay) Handle(ctx context.Context, n Notice) (string, error) {
	if n.EventID == "" {
		return "", errors.New("outbox: a notice without an event id")
	}
	now, sleep := r.Now, r.Sleep
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = pause
	}
	wait, stale := r.Wait, r.Stale
	if wait == 0 {
		wait = 15 * time.Second
	}
	if stale == 0 {
		stale = 10 * time.Minute
	}
	start := now()
	step := 5 * time.Millisecond
	for {
		raw, _, err := r.KV.Get(ctx, Key(n.EventID))
		switch {
		case err == nil:
			var m Marker
			if err := json.Unmarshal(raw, &m); err != nil {
				return "", fmt.Errorf("outbox: marker %s: %w", n.EventID, err)
			}
			if m.Done {
				return Already, nil
			}
			if err := r.Pub.PublishWithID(ctx, m.Topic, n.EventID, m.Data); err != nil {
				return "", err
			}
			done, _ := json.Marshal(Marker{Topic: m.Topic, At: m.At, Done: true})
			if err := state.Set(ctx, r.KV, state.Op{Key: Key(n.EventID), Value: done, TTLSeconds: DoneTTL}); err != nil {
				// published; a notice delivered again publishes it again
				// under the same id, which its consumers recognise
				platform.Logger(ctx).Warn("outbox: event published but not marked done", slog.String("announced_event_id", n.EventID), slog.String("error", err.Error()))
			}
			return Published, nil
		case errors.Is(err, state.ErrNotFound):
			if now().Sub(n.At) > stale || now().Sub(start) >= wait {
				platform.Logger(ctx).Warn("outbox: no marker for a notice; its transaction did not commit", slog.String("announced_event_id", n.EventID),
					slog.String("topic", n.Topic), slog.Time("noticed_at", n.At))
				return Abandoned, nil
			}
			if err := sleep(ctx, step); err != nil {
				return "", err
			}
			step = min(step*2, time.Second)
		default:
			return "", err
		}
	}
}

func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

var relayed = promauto.With(platform.Shared).NewCounterVec(prometheus.CounterOpts{
	Name: "harmonia_outbox_notices_total",
	Help: "Outbox notices relayed, by outcome: published, already (delivered twice), abandoned (the transaction did not commit), failed (asked for redelivery).",
}, []string{"topic", "outcome"})

// Mount subscribes relay to app's notice topic through subs (the notice
// pub/sub component's subscriptions).
func Mount(r *mux.Router, subs *pubsub.Subscriptions, app string, relay *Relay) {
	subs.OnTopic(r, Topic(app), func(ctx context.Context, e pubsub.Event) error {
		var n Notice
		if err := json.Unmarshal(e.Data, &n); err != nil || n.EventID == "" {
			return fmt.Errorf("%w: an outbox notice that does not decode: %v", pubsub.ErrDrop, err)
		}
		outcome, err := relay.Handle(ctx, n)
		if err != nil {
			relayed.WithLabelValues(n.Topic, "failed").Inc()
			return err
		}
		relayed.WithLabelValues(n.Topic, outcome).Inc()
		return nil
	})
}
