// Package pubsub is the event side of the platform: the publisher port, and
// programmatic Dapr subscriptions that decode CloudEvents into the event
// contracts (internal/events), skip events already handled (by CloudEvent
// id) and answer Dapr with SUCCESS, RETRY or DROP.
package pubsub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"

	"github.com/gorilla/mux"

	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

// Publisher is the port apps publish through; it takes only the event
// contracts, and refuses one that lacks a required field.
type Publisher interface {
	Publish(ctx context.Context, e events.Event) error
}

// Event is a received CloudEvent 1.0.
type Event struct {
	ID          string          `json:"id"`
	Source      string          `json:"source"`
	Type        string          `json:"type"`
	Topic       string          `json:"topic"`
	PubsubName  string          `json:"pubsubname"`
	Time        string          `json:"time"`
	TraceParent string          `json:"traceparent"`
	Data        json.RawMessage `json:"data"`
}

// ErrDrop marks an event that can never be handled (malformed): Dapr drops it
// (to the dead-letter topic) instead of redelivering it.
var ErrDrop = errors.New("drop event")

// handler handles one event. Return nil for SUCCESS, an error wrapping ErrDrop
// for DROP, any other error for RETRY.
type handler func(ctx context.Context, e Event) error

// Memory is a Publisher for unit tests that remembers what was published.
type Memory struct {
	mu     sync.Mutex
	Events []Published
	Fail   error
}

// Published is one event Memory saw.
type Published struct {
	Topic string
	Data  events.Event
}

// Publish implements Publisher.
func (m *Memory) Publish(_ context.Context, e events.Event) error {
	if err := events.Validate(e); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return m.Fail
	}
	m.Events = append(m.Events, Published{Topic: e.Topic(), Data: e})
	return nil
}

// Topics lists the topics published, in order.
func (m *Memory) Topics() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, len(m.Events))
	for i, e := range m.Events {
		out[i] = e.Topic
	}
	return out
}

// Subscriptions registers topic handlers on an app's router and serves the
// list Dapr reads at start (GET /dapr/subscribe).
type Subscriptions struct {
	PubsubName      string
	DeadLetterTopic string
	// Inbox, when set, records handled event ids so a redelivery is skipped.
	Inbox state.KV
	// InboxTTL bounds how long handled ids are kept, in seconds.
	InboxTTL int
	list     []subscription
}

type subscription struct {
	PubsubName      string `json:"pubsubname"`
	Topic           string `json:"topic"`
	Route           string `json:"route"`
	DeadLetterTopic string `json:"deadLetterTopic,omitempty"`
}

// On subscribes h to the topic of T. The data decodes into T, ignoring
// fields T does not know; data that does not decode, or lacks a required
// field, is dropped (logged, to the dead-letter topic) rather than retried.
// h's error asks for redelivery unless it wraps ErrDrop.
func On[T events.Event](r *mux.Router, s *Subscriptions, h func(ctx context.Context, e T) error) {
	var zero T
	s.handle(r, zero.Topic(), func(ctx context.Context, e Event) error {
		var v T
		if err := json.Unmarshal(e.Data, &v); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrDrop, zero.Topic(), err)
		}
		if err := events.Validate(v); err != nil {
			return errors.Join(ErrDrop, err)
		}
		return h(ctx, v)
	})
}

// OnTopic subscribes h to topic with the CloudEvent as it came (for a topic
// that carries no event contract, such as an outbox's notices). h's error
// asks for redelivery unless it wraps ErrDrop.
func (s *Subscriptions) OnTopic(r *mux.Router, topic string, h func(ctx context.Context, e Event) error) {
	s.handle(r, topic, h)
}

func (s *Subscriptions) handle(r *mux.Router, topic string, h handler) {
	route := "/events/" + topic
	s.list = append(s.list, subscription{PubsubName: s.PubsubName, Topic: topic, Route: route, DeadLetterTopic: s.DeadLetterTopic})
	r.HandleFunc(route, s.serve(topic, h)).Methods(http.MethodPost)
}

// Mount serves GET /dapr/subscribe.
func (s *Subscriptions) Mount(r *mux.Router) {
	r.HandleFunc("/dapr/subscribe", func(w http.ResponseWriter, _ *http.Request) {
		list := s.list
		if list == nil {
			list = []subscription{}
		}
		platform.WriteJSON(w, http.StatusOK, list)
	}).Methods(http.MethodGet)
}

type daprStatus struct {
	Status string `json:"status"`
}

func (s *Subscriptions) serve(topic string, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		log := platform.Logger(r.Context()).With(slog.String("topic", topic))
		body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		var ev Event
		if err == nil {
			err = json.Unmarshal(body, &ev)
		}
		if err != nil || ev.ID == "" {
			log.Warn("dropping malformed event", slog.Any("error", err))
			platform.WriteJSON(w, http.StatusOK, daprStatus{"DROP"})
			return
		}
		log = log.With(slog.String("event_id", ev.ID))
		ctx := context.WithValue(platform.WithLogger(r.Context(), log), envelopeKey{}, ev)
		key := "inbox|" + topic + "|" + ev.ID
		if s.Inbox != nil {
			if _, _, err := s.Inbox.Get(ctx, key); err == nil {
				log.Debug("event already handled")
				platform.WriteJSON(w, http.StatusOK, daprStatus{"SUCCESS"})
				return
			}
		}
		if err := h(ctx, ev); err != nil {
			if errors.Is(err, ErrDrop) {
				log.Warn("dropping event", slog.String("error", err.Error()))
				platform.WriteJSON(w, http.StatusOK, daprStatus{"DROP"})
				return
			}
			log.Error("event failed; asking for redelivery", slog.String("error", err.Error()))
			platform.WriteJSON(w, http.StatusOK, daprStatus{"RETRY"})
			return
		}
		if s.Inbox != nil {
			ttl := s.InboxTTL
			if ttl == 0 {
				ttl = 7 * 24 * 3600
			}
			if err := state.Set(ctx, s.Inbox, state.Op{Key: key, Value: []byte(`1`), TTLSeconds: ttl}); err != nil {
				log.Warn("could not record handled event", slog.String("error", err.Error()))
			}
		}
		platform.WriteJSON(w, http.StatusOK, daprStatus{"SUCCESS"})
	}
}

type envelopeKey struct{}

// Envelope returns the CloudEvent being handled (its id, source and time),
// for a handler that needs more than the data.
func Envelope(ctx context.Context) (Event, bool) {
	e, ok := ctx.Value(envelopeKey{}).(Event)
	return e, ok
}

// Merge lists other's subscriptions with s's, so one GET /dapr/subscribe
// serves subscriptions through two pub/sub components.
func (s *Subscriptions) Merge(other *Subscriptions) { s.list = append(s.list, other.list...) }
