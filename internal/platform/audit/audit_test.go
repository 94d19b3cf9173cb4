package audit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
)

// Hostile inputs: what a listener can type into a name, a title or a reason
// never leaves the service as it was typed.
func TestCleanRemovesPersonalDataAndSecrets(t *testing.T) {
	cases := []struct {
		name, in    string
		gone        []string // must not survive
		want        string   // when set, the exact result
		placeholder string
	}{
		{name: "card in free text", in: "my card 4111 1111 1111 1111 thanks", gone: []string{"4111", "1111 1111"}, placeholder: "[removed]"},
		{name: "card with dashes", in: "4000-0000-0000-0002", gone: []string{"4000", "0002"}},
		{name: "bare card digits", in: "5555555555554444", gone: []string{"5555555555554444"}},
		{name: "cvc", in: "cvc: 737 please", gone: []string{"737"}},
		{name: "email in a title", in: "Party mix for bob.smith+x@example.co.uk", gone: []string{"bob.smith", "example.co.uk"}, placeholder: "[email]"},
		{name: "phone", in: "call +44 20 7946 0958 now", gone: []string{"7946", "0958"}, placeholder: "[phone]"},
		{name: "phone with dashes", in: "555-867-5309 jenny", gone: []string{"867-5309"}, placeholder: "[phone]"},
		{name: "address", in: "songs from 221 Baker Street", gone: []string{"221 Baker"}, placeholder: "[address]"},
		{name: "jwt", in: "token eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl", gone: []string{"eyJ", "c2lnbmF0dXJl"}},
		{name: "bearer", in: "Authorization: Bearer abc.def.ghi", gone: []string{"abc.def.ghi"}},
		{name: "api key", in: "key sk_live_51HhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhZ", gone: []string{"sk_live_51"}},
		{name: "newlines", in: "a\r\nb", want: "a  b"},
		{name: "harmless", in: "Road trip 2024", want: "Road trip 2024"},
		{name: "a date stays", in: "2026-11-28", want: "2026-11-28"},
		{name: "a uuid stays", in: "0195a3c2-7f3e-7b2a-9c1d-3e4f5a6b7c8d", want: "0195a3c2-7f3e-7b2a-9c1d-3e4f5a6b7c8d"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Clean(c.in)
			for _, g := range c.gone {
				if strings.Contains(got, g) {
					t.Errorf("Clean(%q) = %q still holds %q", c.in, got, g)
				}
			}
			if c.want != "" && got != c.want {
				t.Errorf("Clean(%q) = %q, want %q", c.in, got, c.want)
			}
			if c.placeholder != "" && !strings.Contains(got, c.placeholder) {
				t.Errorf("Clean(%q) = %q, want the placeholder %s", c.in, got, c.placeholder)
			}
		})
	}
}

func TestScrubKeepsOnlyTheAllowList(t *testing.T) {
	p := Policy{Details: []string{"name", "password", "cardNumber", "subscriptionId", "memberId"}, People: []string{"memberId"}}
	got := Scrub(p, map[string]string{
		"name":           "mix for ann@example.com",
		"password":       "hunter2",          // allowed by mistake, still dropped: the key names a secret
		"cardNumber":     "4111111111111111", // same
		"email":          "ann@example.com",  // not allowed
		"subscriptionId": "4111111111111111", // an id that is a card number is scrubbed
		"memberId":       "u-1",
	})
	if _, ok := got["password"]; ok {
		t.Error("password left")
	}
	if _, ok := got["cardNumber"]; ok {
		t.Error("card number left")
	}
	if _, ok := got["email"]; ok {
		t.Error("a key outside the allow-list left")
	}
	if got["name"] != "mix for [email]" || got["memberId"] != "u-1" || got["subscriptionId"] != "[removed]" {
		t.Errorf("scrubbed details = %v", got)
	}
}

func TestRecordPublishesAScrubbedEventWithTheRequestIDs(t *testing.T) {
	pub := &pubsub.Memory{}
	r := New(pub)
	ctx := platform.WithTraceID(platform.WithRequestID(context.Background(), "req-1"), "0af7651916cd43dd8448eb211c80319c")
	ctx = platform.WithCaller(ctx, platform.Caller{UserID: "u-1"})
	r.Record(ctx, Record{Action: "playlist.deleted", Subject: Subject{"playlist", "p-1"},
		Details: map[string]string{"name": "call 555-867-5309", "owner": "u-1"}})
	if len(pub.Events) != 1 {
		t.Fatalf("published %d events", len(pub.Events))
	}
	e := pub.Events[0].Data.(events.AuditRecorded)
	if e.Actor != "u-1" || e.RequestID != "req-1" || e.TraceID != "0af7651916cd43dd8448eb211c80319c" || e.Outcome != Success ||
		e.SubjectType != "playlist" || e.SubjectID != "p-1" || e.Details["name"] != "call [phone]" || e.Details["owner"] != "" {
		t.Fatalf("event = %+v", e)
	}
}

func TestRecordRefusesAnActionWithoutPolicyAndNeverFailsTheCaller(t *testing.T) {
	pub := &pubsub.Memory{}
	r := New(pub)
	r.Record(context.Background(), Record{Action: "nobody.knows"})
	r.Record(context.Background(), Record{Action: "playlist.deleted", Subject: Subject{"user", "u"}})
	if len(pub.Events) != 0 || r.Failed() != 2 {
		t.Fatalf("events %d, failed %d", len(pub.Events), r.Failed())
	}
	var nilRec *Recorder
	nilRec.Record(context.Background(), Record{Action: "auth.logout"}) // no panic
	if _, err := Build(context.Background(), Record{Action: "auth.logout"}, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// flaky refuses its first fails publishes, then keeps what it is given.
type flaky struct {
	mu    sync.Mutex
	fails int
	got   []events.AuditRecorded
}

func (f *flaky) Publish(_ context.Context, e events.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fails > 0 {
		f.fails--
		return errors.New("broker away")
	}
	f.got = append(f.got, e.(events.AuditRecorded))
	return nil
}

func (f *flaky) published() []events.AuditRecorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]events.AuditRecorded(nil), f.got...)
}

// A broker that refuses for a while loses nothing: the record is published
// again, under the same record id, once it takes it.
func TestARecordTheBrokerRefusedIsPublishedLater(t *testing.T) {
	pub := &flaky{fails: 1}
	r := New(pub)
	r.Record(context.Background(), Record{Action: "auth.logout", Actor: "u"})
	deadline := time.Now().Add(5 * time.Second)
	for len(pub.published()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	got := pub.published()
	if len(got) != 1 || got[0].RecordID == "" || got[0].Action != "auth.logout" || r.Failed() != 0 || r.Pending() != 0 {
		t.Fatalf("published %+v, failed %d, pending %d", got, r.Failed(), r.Pending())
	}
}

// Every action the apps record has a policy: an action missing here would
// be refused at run time.
func TestEveryRecordedActionHasAPolicy(t *testing.T) {
	action := regexp.MustCompile(`audit\.Record\{[^}]*?Action:\s*"([^"]+)"`)
	files, _ := filepath.Glob("../../../apps/*/internal/*/*.go")
	seen := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range action.FindAllStringSubmatch(string(b), -1) {
			seen[m[1]] = true
			if _, ok := Policies[m[1]]; !ok {
				t.Errorf("%s records %q, which has no policy", f, m[1])
			}
		}
	}
	if len(seen) < 10 {
		t.Fatalf("found %d recorded actions: the pattern is stale", len(seen))
	}
}
