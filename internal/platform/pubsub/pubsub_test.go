package pubsub_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

func TestSubscriptionAnswersAndDeduplicates(t *testing.T) {
	r := mux.NewRouter()
	subs := &pubsub.Subscriptions{PubsubName: "pubsub", DeadLetterTopic: "deadletter", Inbox: state.NewMemory()}
	handled := 0
	pubsub.On(r, subs, func(_ context.Context, d events.UserDeleted) error {
		if d.UserID == "flaky" {
			return errors.New("store down")
		}
		handled++
		return nil
	})
	subs.Mount(r)
	post := func(body string) string {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("POST", "/events/user.deleted", strings.NewReader(body)))
		return w.Body.String()
	}
	// a field the contract does not know is ignored (a newer publisher)
	ev := `{"id":"e1","type":"com.dapr.event.sent","topic":"user.deleted","data":{"userId":"u1","deletedAt":"2026-11-27T10:00:00Z","newField":1}}`
	for i := 0; i < 3; i++ {
		if got := post(ev); !strings.Contains(got, "SUCCESS") {
			t.Fatal(got)
		}
	}
	if handled != 1 {
		t.Fatalf("a redelivered event was handled %d times", handled)
	}
	if got := post(`not json`); !strings.Contains(got, "DROP") {
		t.Fatal(got)
	}
	// a missing required field is dropped, not retried for ever
	if got := post(`{"id":"e2","data":{}}`); !strings.Contains(got, "DROP") {
		t.Fatal(got)
	}
	if got := post(`{"id":"e4","data":{"userId":"u2"}}`); !strings.Contains(got, "DROP") {
		t.Fatalf("an event without deletedAt: %s", got)
	}
	if got := post(`{"id":"e5","data":{"userId":7,"deletedAt":"2026-11-27T10:00:00Z"}}`); !strings.Contains(got, "DROP") {
		t.Fatalf("an event of the wrong shape: %s", got)
	}
	if got := post(`{"id":"e3","data":{"userId":"flaky","deletedAt":"2026-11-27T10:00:00Z"}}`); !strings.Contains(got, "RETRY") {
		t.Fatal(got)
	}
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/dapr/subscribe", nil))
	if !strings.Contains(w.Body.String(), `"route":"/events/user.deleted"`) || !strings.Contains(w.Body.String(), `"deadLetterTopic":"deadletter"`) {
		t.Fatal(w.Body.String())
	}
}

func TestPublishRefusesAnIncompleteEvent(t *testing.T) {
	var m pubsub.Memory
	if err := m.Publish(context.Background(), events.UserDeleted{UserID: "u1"}); !errors.Is(err, events.ErrInvalid) {
		t.Fatalf("published an event without its required deletedAt: %v", err)
	}
	if len(m.Events) != 0 {
		t.Fatal(m.Events)
	}
}
