package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform/outbox"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

type sent struct {
	topic, id string
	data      json.RawMessage
}

type fakePub struct {
	mu   sync.Mutex
	sent []sent
	fail error
}

func (p *fakePub) PublishWithID(_ context.Context, topic, id string, data json.RawMessage) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return p.fail
	}
	p.sent = append(p.sent, sent{topic, id, data})
	return nil
}

// clock is a fake time whose Sleep moves it on, and which can run a hook
// after each sleep (a transaction committing while the relay waits).
type clock struct {
	now     time.Time
	slept   time.Duration
	onSleep func()
}

func (c *clock) Now() time.Time { return c.now }
func (c *clock) Sleep(_ context.Context, d time.Duration) error {
	c.now = c.now.Add(d)
	c.slept += d
	if c.onSleep != nil {
		c.onSleep()
	}
	return nil
}

func setup() (*state.Memory, *fakePub, *clock, *outbox.Relay) {
	kv, pub := state.NewMemory(), &fakePub{}
	c := &clock{now: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
	return kv, pub, c, &outbox.Relay{KV: kv, Pub: pub, Wait: 15 * time.Second, Now: c.Now, Sleep: c.Sleep}
}

func commitMarker(t *testing.T, kv state.KV, id string, at time.Time) {
	t.Helper()
	op, err := outbox.MarkerOp(id, "user.deleted", events.UserDeleted{UserID: "u1", DeletedAt: at}, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := state.Set(context.Background(), kv, op); err != nil {
		t.Fatal(err)
	}
}

func TestACommittedEventIsPublishedOnceUnderItsNoticeID(t *testing.T) {
	kv, pub, c, r := setup()
	n := outbox.Notice{EventID: "e1", Topic: "user.deleted", At: c.now}
	commitMarker(t, kv, "e1", c.now)
	got, err := r.Handle(context.Background(), n)
	if err != nil || got != outbox.Published {
		t.Fatalf("first delivery: %q, %v", got, err)
	}
	if len(pub.sent) != 1 || pub.sent[0].id != "e1" || pub.sent[0].topic != "user.deleted" {
		t.Fatalf("published %+v", pub.sent)
	}
	var e events.UserDeleted
	if err := json.Unmarshal(pub.sent[0].data, &e); err != nil || e.UserID != "u1" {
		t.Fatalf("the event's data: %s (%v)", pub.sent[0].data, err)
	}
	// the notice delivered a second time: answered at once, nothing sent
	got, err = r.Handle(context.Background(), n)
	if err != nil || got != outbox.Already || len(pub.sent) != 1 || c.slept != 0 {
		t.Fatalf("second delivery: %q, %v, %d sent, slept %s", got, err, len(pub.sent), c.slept)
	}
}

func TestANoticeWaitsForItsTransactionToCommit(t *testing.T) {
	kv, pub, c, r := setup()
	n := outbox.Notice{EventID: "e2", Topic: "user.deleted", At: c.now}
	polls := 0
	c.onSleep = func() { // the transaction commits after the relay looked three times
		if polls++; polls == 3 {
			commitMarker(t, kv, "e2", c.now)
		}
	}
	got, err := r.Handle(context.Background(), n)
	if err != nil || got != outbox.Published || len(pub.sent) != 1 {
		t.Fatalf("%q, %v, sent %+v", got, err, pub.sent)
	}
	if c.slept > time.Second {
		t.Fatalf("waited %s for a marker that came after three looks", c.slept)
	}
}

// The defect this package exists for: a notice whose transaction failed
// ends after a bounded wait, spaced out, and publishes nothing.
func TestANoticeWhoseTransactionFailedIsDroppedAfterABoundedWait(t *testing.T) {
	_, pub, c, r := setup()
	looks := 0
	c.onSleep = func() { looks++ }
	got, err := r.Handle(context.Background(), outbox.Notice{EventID: "e3", Topic: "user.deleted", At: c.now})
	if err != nil || got != outbox.Abandoned || len(pub.sent) != 0 {
		t.Fatalf("%q, %v, sent %+v", got, err, pub.sent)
	}
	if c.slept < r.Wait || c.slept > r.Wait+time.Second {
		t.Fatalf("waited %s, want about %s", c.slept, r.Wait)
	}
	if looks > 40 {
		t.Fatalf("looked %d times in %s: the waits are not spaced out", looks, r.Wait)
	}
}

func TestANoticeDeliveredLongAfterItsMarkerWentIsDroppedAtOnce(t *testing.T) {
	_, pub, c, r := setup()
	got, err := r.Handle(context.Background(), outbox.Notice{EventID: "e4", Topic: "user.deleted", At: c.now.Add(-time.Hour)})
	if err != nil || got != outbox.Abandoned || c.slept != 0 || len(pub.sent) != 0 {
		t.Fatalf("%q, %v, slept %s, sent %d", got, err, c.slept, len(pub.sent))
	}
}

func TestABrokerThatRefusesLeavesTheMarkerForTheNextDelivery(t *testing.T) {
	kv, pub, c, r := setup()
	n := outbox.Notice{EventID: "e5", Topic: "user.deleted", At: c.now}
	commitMarker(t, kv, "e5", c.now)
	pub.fail = errors.New("broker away")
	if _, err := r.Handle(context.Background(), n); err == nil {
		t.Fatal("a refused publication was not reported (no redelivery would come)")
	}
	pub.fail = nil
	got, err := r.Handle(context.Background(), n)
	if err != nil || got != outbox.Published || len(pub.sent) != 1 || pub.sent[0].id != "e5" {
		t.Fatalf("redelivery: %q, %v, %+v", got, err, pub.sent)
	}
}

func TestAStoreErrorAsksForRedelivery(t *testing.T) {
	_, _, c, r := setup()
	r.KV = failingKV{}
	if _, err := r.Handle(context.Background(), outbox.Notice{EventID: "e6", Topic: "user.deleted", At: c.now}); err == nil {
		t.Fatal("a store error was not reported")
	}
}

type failingKV struct{ state.KV }

func (failingKV) Get(context.Context, string) ([]byte, string, error) {
	return nil, "", errors.New("database away")
}
