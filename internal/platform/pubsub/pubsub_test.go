package pubsub_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

func TestSubscriptionAnswersAndDeduplicates(t *testing.T) {
	r := mux.NewRouter()
	subs := &pubsub.Subscriptions{PubsubName: "pubsub", DeadLetterTopic: "deadletter", Inbox: state.NewMemory()}
	handled := 0
	subs.Handle(r, "user.deleted", func(_ context.Context, e pubsub.Event) error {
		var d struct{ UserID string }
		if err := e.Decode(&d); err != nil || d.UserID == "" {
			return errors.Join(pubsub.ErrDrop, err)
		}
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
	ev := `{"id":"e1","type":"com.dapr.event.sent","topic":"user.deleted","data":{"userId":"u1"}}`
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
	if got := post(`{"id":"e2","data":{}}`); !strings.Contains(got, "DROP") {
		t.Fatal(got)
	}
	if got := post(`{"id":"e3","data":{"userId":"flaky"}}`); !strings.Contains(got, "RETRY") {
		t.Fatal(got)
	}
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/dapr/subscribe", nil))
	if !strings.Contains(w.Body.String(), `"route":"/events/user.deleted"`) || !strings.Contains(w.Body.String(), `"deadLetterTopic":"deadletter"`) {
		t.Fatal(w.Body.String())
	}
}
