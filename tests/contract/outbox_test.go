package contract

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"
	dto "github.com/prometheus/client_model/go"

	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/dapr"
	"github.com/harmonia-music/harmonia/internal/platform/outbox"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

// The outbox through a real sidecar: an announcing transaction publishes its
// event once, under the id its notice named; a transaction that fails
// publishes nothing and its notice ends; a notice delivered twice publishes
// nothing more. The app side is this test: it serves the relay and a
// consumer of the event, as an app does.
func TestOutboxThroughASidecar(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := mux.NewRouter()
	var mu sync.Mutex
	got := map[string][]string{} // user id → CloudEvent ids received
	subs := &pubsub.Subscriptions{PubsubName: "pubsub"}
	pubsub.On(r, subs, func(ctx context.Context, e events.UserDeleted) error {
		env, _ := pubsub.Envelope(ctx)
		mu.Lock()
		got[e.UserID] = append(got[e.UserID], env.ID)
		mu.Unlock()
		return nil
	})
	var kvp *dapr.StateStore
	relay := &outbox.Relay{Wait: time.Second}
	notices := &pubsub.Subscriptions{PubsubName: "pubsub-outbox"}
	outbox.Mount(r, notices, "contract", relay)
	subs.Merge(notices)
	subs.Mount(r)
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	db := filepath.Join(t.TempDir(), "outbox.db")
	sc, kv := sidecarFor(t, `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: store
spec:
  type: state.sqlite
  version: v1
  metadata:
    - name: connectionString
      value: "`+db+`"
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.in-memory
  version: v1
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub-outbox
spec:
  type: pubsub.in-memory
  version: v1
`, l.Addr().(*net.TCPAddr).Port)
	kvp = kv
	kvp.WithOutbox(dapr.OutboxSettings{App: "contract", Notices: dapr.NewPublisher(sc, "pubsub-outbox")})
	relay.KV, relay.Pub = kvp, dapr.NewPublisher(sc, "pubsub")
	ctx := context.Background()
	repo := state.Repo[doc]{KV: kvp, Prefix: "tomb|"}
	received := func(user string) []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got[user]...)
	}
	waitFor := func(user string, n int) []string {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if ids := received(user); len(ids) >= n {
				return ids
			}
			time.Sleep(50 * time.Millisecond)
		}
		return received(user)
	}

	// 1. committed: published once; its marker says done
	err = state.Transact(ctx, kvp, func(tx *state.Tx) error {
		tx.Announce(state.Announce(events.UserDeleted{UserID: "u-committed", DeletedAt: time.Now().UTC()}))
		return repo.Write(tx, "u-committed", &doc{N: 1})
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := waitFor("u-committed", 1)
	if len(ids) != 1 {
		t.Fatalf("the committed event arrived %d times", len(ids))
	}
	raw, _, err := kvp.Get(ctx, outbox.Key(ids[0]))
	if err != nil {
		t.Fatalf("no marker under the event's id %s: %v", ids[0], err)
	}
	if string(raw) == "" || !strings.Contains(string(raw), `"done":true`) {
		t.Fatalf("the marker is not done after publication: %s", raw)
	}

	// 2. a transaction that fails (a stale ETag): its notice went out, but
	// nothing is published, and the relay gives it up
	before := abandoned(t)
	err = kvp.Transact(ctx, []state.Op{{Key: "tomb|u-failed", Value: []byte(`{"n":1}`), ETag: "1234",
		Event: state.Announce(events.UserDeleted{UserID: "u-failed", DeletedAt: time.Now().UTC()})}})
	if !errors.Is(err, state.ErrConflict) {
		t.Fatalf("a stale ETag: %v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for abandoned(t) == before && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if abandoned(t) != before+1 {
		t.Fatalf("the failed transaction's notice was not given up (abandoned %v, before %v)", abandoned(t), before)
	}
	if ids := received("u-failed"); len(ids) != 0 {
		t.Fatalf("a failed transaction published its event: %v", ids)
	}

	// 3. the first notice delivered again: nothing more is published
	if err := dapr.NewPublisher(sc, "pubsub-outbox").PublishJSON(ctx, outbox.Topic("contract"),
		outbox.Notice{EventID: ids[0], Topic: "user.deleted", At: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if again := received("u-committed"); len(again) != 1 {
		t.Fatalf("a notice delivered twice published its event again: %v", again)
	}
}

// abandoned reads the relay's count of notices given up.
func abandoned(t *testing.T) float64 {
	t.Helper()
	mfs, err := platform.Shared.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "harmonia_outbox_notices_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label(m, "outcome") == outbox.Abandoned {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
