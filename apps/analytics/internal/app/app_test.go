package app

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/apps/analytics/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

var day0 = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

type memExport struct {
	mu    sync.Mutex
	files map[string]string
}

func (m *memExport) Export(_ context.Context, name string, b []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.files == nil {
		m.files = map[string]string{}
	}
	m.files[name] = string(b)
	return nil
}

func newService(t *testing.T, kv *state.Memory, ex Exporter) *Service {
	t.Helper()
	s, err := New(kv, ex, Config{MaxBatch: 64})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go s.Run(ctx)
	return s
}

func play(id, user, track, country, device, band string, at time.Time) Incoming {
	e := events.TrackPlayed{PlayID: id, UserID: user, TrackID: track, AlbumID: "al-" + track, ArtistID: "ar", Genre: "jazz",
		Country: country, Device: device, AgeBand: band, PlayedAt: at}
	return Incoming{ID: "play|" + id, Topic: e.Topic(), Time: at, Data: []byte(`{}`), Effect: domain.PlayEffect(e)}
}

func report(t *testing.T, s *Service, rep, by string, from, to time.Time) map[string]int64 {
	t.Helper()
	q := ReportQuery{Report: rep, GroupBy: by, From: from, To: to, Top: 100}
	if rep == "subscriptions" {
		q.Metric = "new"
	}
	r, err := s.Report(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sr := range r.Series {
		out[sr.Key] = sr.Total
		if len(sr.Points) != int(to.Sub(from).Hours()/24)+1 {
			t.Fatalf("series %s has %d points", sr.Key, len(sr.Points))
		}
	}
	return out
}

// Two replicas flush at once, every event is delivered twice and some three
// times: each play is counted exactly once.
func TestCountsAreExactUnderRedeliveryAndConcurrency(t *testing.T) {
	kv := state.NewMemory()
	a, b := newService(t, kv, nil), newService(t, kv, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 3000)
	for i := 0; i < 1000; i++ {
		in := play(fmt.Sprint(i), fmt.Sprint("u", i%50), fmt.Sprint("t", i%7), "PT", "web", "25-34", day0)
		for n, s := range []*Service{a, b, a} {
			if n == 2 && i%3 != 0 {
				continue
			}
			wg.Add(1)
			go func(s *Service) { defer wg.Done(); errs <- s.Consume(context.Background(), in) }(s)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	tracks := report(t, a, "plays", "track", day0, day0)
	var total int64
	for _, n := range tracks {
		total += n
	}
	if total != 1000 || tracks["t0"] != 143 {
		t.Fatalf("plays by track: %v (total %d)", tracks, total)
	}
	if l := report(t, a, "listeners", "country", day0, day0); l["PT"] != 50 {
		t.Fatalf("distinct listeners: %v", l)
	}
}

func TestListenersAreDistinctPerDayAndGrouping(t *testing.T) {
	s := newService(t, state.NewMemory(), nil)
	ctx := context.Background()
	for i, p := range []Incoming{
		play("1", "ann", "t", "PT", "web", "25-34", day0),
		play("2", "ann", "t", "PT", "web", "25-34", day0),    // same day, same device
		play("3", "ann", "t", "PT", "mobile", "25-34", day0), // another device
		play("4", "ann", "t", "PT", "web", "25-34", day0.AddDate(0, 0, 1)),
		play("5", "bob", "t", "UY", "desktop", "55-64", day0),
		play("6", "", "t", "", "web", "", day0), // anonymous: a play, no listener
	} {
		if err := s.Consume(ctx, p); err != nil {
			t.Fatal(i, err)
		}
	}
	if got := report(t, s, "listeners", "device", day0, day0); got["web"] != 1 || got["mobile"] != 1 || got["desktop"] != 1 {
		t.Fatalf("by device: %v", got)
	}
	if got := report(t, s, "listeners", "all", day0, day0.AddDate(0, 0, 1)); got["all"] != 3 {
		t.Fatalf("all (2 the first day, 1 the next): %v", got)
	}
	if got := report(t, s, "plays", "genre", day0, day0); got["jazz"] != 5 {
		t.Fatalf("plays by genre: %v", got)
	}
	if got := report(t, s, "listeners", "ageBand", day0, day0); got["25-34"] != 1 || got["55-64"] != 1 {
		t.Fatalf("by age band: %v", got)
	}
}

// A batch whose commit fails counts nothing and is not acknowledged; its
// redelivery counts it once.
func TestAFailedFlushCountsNothingAndTheRedeliveryCountsOnce(t *testing.T) {
	kv := state.NewMemory()
	ex := &memExport{}
	s := newService(t, kv, ex)
	in := play("x", "ann", "t", "PT", "web", "25-34", day0)
	kv.FailNext = errors.New("store away")
	if err := s.Consume(context.Background(), in); err == nil {
		t.Fatal("a failed commit was acknowledged")
	}
	if got := report(t, s, "plays", "track", day0, day0); len(got) != 0 {
		t.Fatalf("counted before its commit: %v", got)
	}
	for i := 0; i < 2; i++ {
		if err := s.Consume(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	if got := report(t, s, "plays", "track", day0, day0); got["t"] != 1 {
		t.Fatalf("after redelivery: %v", got)
	}
	if len(ex.files) < 1 {
		t.Fatal("nothing exported")
	}
	for name, body := range ex.files {
		if !strings.HasSuffix(name, ".ndjson") || !strings.Contains(body, `"id":"play|x"`) || !strings.HasSuffix(body, "\n") {
			t.Fatalf("export %s: %q", name, body)
		}
	}
}

func TestRevenueSubtractsRefundsAndSubscriptionsCountByPlan(t *testing.T) {
	s := newService(t, state.NewMemory(), nil)
	ctx := context.Background()
	charge := func(id, topic string, amount int64) Incoming {
		c := events.Charge{ChargeID: id, Amount: amount, Currency: "EUR", PlanID: "premium", At: day0}
		return Incoming{ID: topic + id, Topic: topic, Effect: domain.PaymentEffect(topic, c)}
	}
	sub := func(id, topic string) Incoming {
		x := events.Subscription{SubscriptionID: id, PlanID: "premium", At: day0}
		return Incoming{ID: topic + id, Topic: topic, Effect: domain.SubscriptionEffect(topic, x)}
	}
	for _, in := range []Incoming{charge("1", events.TopicPaymentSucceeded, 1299), charge("2", events.TopicPaymentSucceeded, 1299),
		charge("2", events.TopicPaymentRefunded, 1299), charge("3", events.TopicPaymentFailed, 1299),
		sub("a", events.TopicSubscriptionActivated), sub("b", events.TopicSubscriptionPaymentFailed)} {
		if err := s.Consume(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if got := report(t, s, "revenue", "plan", day0, day0); got["premium EUR"] != 1299 || len(got) != 1 {
		t.Fatalf("revenue: %v", got)
	}
	if got := report(t, s, "subscriptions", "plan", day0, day0); got["premium"] != 1 {
		t.Fatalf("new subscriptions: %v", got)
	}
}

func TestTheChartIsSVGWithOnePathPerSeries(t *testing.T) {
	s := newService(t, state.NewMemory(), nil)
	for i := 0; i < 12; i++ {
		_ = s.Consume(context.Background(), play(fmt.Sprint(i), "u", fmt.Sprint("t", i%3), "PT", "web", "", day0.AddDate(0, 0, i%5)))
	}
	r, err := s.Report(context.Background(), ReportQuery{Report: "plays", GroupBy: "track", From: day0, To: day0.AddDate(0, 0, 29), Top: 10})
	if err != nil {
		t.Fatal(err)
	}
	r.Series[0].Key = `<script>&"` // a hostile key is text, not markup
	svg := domain.SVG(r)
	var doc struct {
		XMLName xml.Name
		Paths   []struct {
			D string `xml:"d,attr"`
		} `xml:"path"`
	}
	if err := xml.Unmarshal([]byte(svg), &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, svg)
	}
	if doc.XMLName.Local != "svg" || len(doc.Paths) != 3 || strings.Count(doc.Paths[0].D, "L") != 29 || strings.Contains(svg, "<script>") {
		t.Fatalf("svg: %s, %d paths", doc.XMLName.Local, len(doc.Paths))
	}
}

// The same play reached analytics twice under two CloudEvent ids (albums'
// outbox committed, the answer was lost, and albums published it directly):
// its play id makes it count once.
func TestOnePlayUnderTwoCloudEventIDsCountsOnce(t *testing.T) {
	s := newService(t, state.NewMemory(), nil)
	e := events.TrackPlayed{PlayID: "p1", UserID: "ann", TrackID: "t", AlbumID: "a", PlayedAt: day0}
	for _, ce := range []string{"outbox-1", "direct-2"} {
		id := domain.EventID(ce, e)
		if err := s.Consume(context.Background(), Incoming{ID: id, Topic: e.Topic(), Effect: domain.PlayEffect(e)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := report(t, s, "plays", "track", day0, day0); got["t"] != 1 {
		t.Fatalf("plays: %v", got)
	}
	if id := domain.EventID("ce-1", events.PaymentSucceeded{}); id != "ce-1" {
		t.Fatalf("another event's id: %q", id)
	}
}
