package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/apps/notifications/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/exports"
	"github.com/harmonia-music/harmonia/internal/platform/fault"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

type fakeUsers struct {
	mu       sync.Mutex
	contacts map[string]exports.Contact
	optedOut []string
	fail     error
	calls    int
}

func (f *fakeUsers) Contacts(_ context.Context, ids []string) ([]exports.Contact, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		return nil, f.fail
	}
	var out []exports.Contact
	for _, id := range ids {
		if c, ok := f.contacts[id]; ok {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fakeUsers) OptOut(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.contacts[id]; !ok {
		return fault.E(fault.KindNotFound, "profile-not-found", "no profile")
	}
	f.optedOut = append(f.optedOut, id)
	c := f.contacts[id]
	c.MarketingOptIn = false
	f.contacts[id] = c
	return nil
}

func (f *fakeUsers) add(id string, ch events.ChannelChoices, optIn bool, phone string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.contacts[id] = exports.Contact{UserID: id, Email: id + "@example.com", DisplayName: "Listener " + id, Phone: phone,
		Channels: ch, MarketingOptIn: optIn}
}

type sent struct{ channel, to, subject, body string }

type fakeChannels struct {
	mu   sync.Mutex
	out  []sent
	fail error
}

func (f *fakeChannels) Email(_ context.Context, to, subject, html string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.out = append(f.out, sent{"email", to, subject, html})
	return nil
}

func (f *fakeChannels) SMS(_ context.Context, to, text string, _ time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.out = append(f.out, sent{"sms", to, "", text})
	return nil
}

func (f *fakeChannels) count(channel, to string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.out {
		if s.channel == channel && strings.Contains(s.to, to) {
			n++
		}
	}
	return n
}

type fakePlans struct{}

func (fakePlans) Plans(context.Context) ([]Plan, error) {
	return []Plan{{ID: "individual", Name: "Individual", Price: 999, Currency: "EUR"}}, nil
}

type fixture struct {
	s     *Service
	kv    *state.Memory
	users *fakeUsers
	ch    *fakeChannels
	pub   *pubsub.Memory
	now   time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{kv: state.NewMemory(), users: &fakeUsers{contacts: map[string]exports.Contact{}}, ch: &fakeChannels{},
		pub: &pubsub.Memory{}, now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	s, err := New(f.kv, f.users, f.ch, f.pub, fakePlans{}, Config{BaseURL: "http://gw.test", LinkKey: []byte("0123456789abcdef0123456789abcdef")},
		func() time.Time { return f.now })
	if err != nil {
		t.Fatal(err)
	}
	f.s = s
	return f
}

var (
	all      = events.ChannelChoices{Email: true, SMS: true, InApp: true}
	defaults = events.ChannelChoices{Email: true, InApp: true}
	ctx      = context.Background()
)

func (f *fixture) inbox(t *testing.T, user string) []domain.Item {
	t.Helper()
	p, err := f.s.List(ctx, user, false, MaxPage, "")
	if err != nil {
		t.Fatal(err)
	}
	return p.Items
}

// A redelivered event, or the same fact published again under a new event
// id, is told once: one email, one in-app notification.
func TestWelcomeIsToldOnce(t *testing.T) {
	f := newFixture(t)
	f.users.add("u1", defaults, false, "")
	e := events.UserRegistered{UserID: "u1", RegisteredAt: f.now}
	for range 3 {
		if err := f.s.Registered(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.ch.count("email", "u1@example.com"); n != 1 {
		t.Fatalf("%d welcome emails, want 1", n)
	}
	if got := f.ch.out[0]; !strings.Contains(got.to, "Listener u1") || !strings.Contains(got.body, "Hi Listener u1") {
		t.Fatalf("email not addressed by name: %+v", got)
	}
	if items := f.inbox(t, "u1"); len(items) != 1 || items[0].Kind != domain.KindWelcome || items[0].Seq != 1 {
		t.Fatalf("inbox %+v", items)
	}
}

// Payment failed is a security message: by email even with email off; by
// SMS only to a listener who chose it and has a number.
func TestPaymentFailedChannels(t *testing.T) {
	f := newFixture(t)
	f.users.add("sms-on", all, false, "+491701234567")
	f.users.add("sms-off", events.ChannelChoices{InApp: true}, false, "+491709999999")
	for _, u := range []string{"sms-on", "sms-off"} {
		e := events.Subscription{SubscriptionID: "sub-" + u, UserID: u, PlanID: "individual", Status: "failed", At: f.now}
		if err := f.s.SubscriptionChanged(ctx, events.TopicSubscriptionPaymentFailed, e); err != nil {
			t.Fatal(err)
		}
		if err := f.s.SubscriptionChanged(ctx, events.TopicSubscriptionPaymentFailed, e); err != nil { // redelivered
			t.Fatal(err)
		}
	}
	if f.ch.count("sms", "+491701234567") != 1 || f.ch.count("sms", "+491709999999") != 0 {
		t.Fatalf("SMS sent: %+v", f.ch.out)
	}
	if f.ch.count("email", "sms-off@example.com") != 1 || f.ch.count("email", "sms-on@example.com") != 1 {
		t.Fatalf("payment-failed emails: %+v", f.ch.out)
	}
	for _, s := range f.ch.out {
		if s.channel == "sms" && !strings.Contains(s.body, "Individual") {
			t.Fatalf("sms text %q does not name the plan", s.body)
		}
	}
	if items := f.inbox(t, "sms-off"); len(items) != 1 || items[0].Kind != domain.KindPaymentFailed {
		t.Fatalf("in-app %+v", items)
	}
}

// A receipt respects the email choice and names plan, amount and period.
func TestReceipt(t *testing.T) {
	f := newFixture(t)
	f.users.add("u1", defaults, false, "")
	f.users.add("quiet", events.ChannelChoices{InApp: true}, false, "")
	end := f.now.AddDate(0, 1, 0)
	for _, u := range []string{"u1", "quiet"} {
		if err := f.s.SubscriptionChanged(ctx, events.TopicSubscriptionActivated,
			events.Subscription{SubscriptionID: "s-" + u, UserID: u, PlanID: "individual", Status: "active", PeriodEnd: &end, At: f.now}); err != nil {
			t.Fatal(err)
		}
	}
	if f.ch.count("email", "quiet@") != 0 {
		t.Fatal("a receipt went to a listener with email off")
	}
	if len(f.ch.out) != 1 || !strings.Contains(f.ch.out[0].body, "9.99 EUR") || !strings.Contains(f.ch.out[0].body, "27 December 2026") ||
		!strings.Contains(f.ch.out[0].subject, "Individual") {
		t.Fatalf("receipt %+v", f.ch.out)
	}
}

// A release reaches the artist's followers (not those who unfollowed, not
// those with in-app off), in pages, once however often the event comes.
func TestReleaseFanOut(t *testing.T) {
	f := newFixture(t)
	var followers []string
	for i := range 250 {
		u := fmt.Sprintf("f%03d", i)
		f.users.add(u, events.ChannelChoices{InApp: true}, false, "")
		followers = append(followers, u)
		if err := f.s.Followed(ctx, u, "artist-1", true, f.now); err != nil {
			t.Fatal(err)
		}
	}
	f.users.add("emailer", defaults, false, "")
	_ = f.s.Followed(ctx, "emailer", "artist-1", true, f.now)
	f.users.add("left", defaults, false, "")
	_ = f.s.Followed(ctx, "left", "artist-1", true, f.now)
	_ = f.s.Followed(ctx, "left", "artist-1", false, f.now.Add(time.Second))
	_ = f.s.Followed(ctx, "left", "artist-1", true, f.now.Add(-time.Second)) // a late, older follow
	f.users.add("muted", events.ChannelChoices{}, false, "")
	_ = f.s.Followed(ctx, "muted", "artist-1", true, f.now)
	f.users.add("other", defaults, false, "")
	_ = f.s.Followed(ctx, "other", "artist-2", true, f.now)

	e := events.AlbumPublished{Album: events.Album{AlbumID: "al-1", ArtistID: "artist-1", ArtistName: "Nina", Title: "Blue"}, PublishedAt: f.now}
	var done []domain.Job
	f.s.cfg.JobDone = func(j domain.Job, _ time.Duration) { done = append(done, j) }
	for range 2 {
		if err := f.s.Published(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.s.RunPendingJobs(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Published(ctx, e); err != nil { // after the fan-out: nothing new
		t.Fatal(err)
	}
	if err := f.s.RunPendingJobs(ctx); err != nil {
		t.Fatal(err)
	}
	if len(done) != 1 || done[0].Delivered != 252 {
		t.Fatalf("fan-outs %+v", done)
	}
	for _, u := range append(followers, "emailer") {
		items := f.inbox(t, u)
		if len(items) != 1 || items[0].Kind != domain.KindRelease || items[0].Title != "New from Nina" {
			t.Fatalf("%s: %+v", u, items)
		}
	}
	for _, u := range []string{"left", "muted", "other"} {
		if items := f.inbox(t, u); len(items) != 0 {
			t.Fatalf("%s got %+v", u, items)
		}
	}
	if f.ch.count("email", "emailer@") != 1 || f.ch.count("email", "f001@") != 0 || len(f.ch.out) != 1 {
		t.Fatalf("release emails: %d", len(f.ch.out))
	}
	var delivered int
	for _, p := range f.pub.Events {
		if d, ok := p.Data.(events.NotificationsDelivered); ok {
			delivered += len(d.UserIDs)
		}
	}
	if delivered != 251 {
		t.Fatalf("broadcast named %d listeners, want 251", delivered)
	}
}

// A fan-out stopped half way (users unreachable) resumes where it stopped
// and tells nobody twice.
func TestFanOutResumes(t *testing.T) {
	f := newFixture(t)
	for i := range 400 {
		u := fmt.Sprintf("u%03d", i)
		f.users.add(u, events.ChannelChoices{InApp: true}, false, "")
		_ = f.s.Followed(ctx, u, "a", true, f.now)
	}
	if err := f.s.Published(ctx, events.AlbumPublished{Album: events.Album{AlbumID: "x", ArtistID: "a", Title: "T"}, PublishedAt: f.now}); err != nil {
		t.Fatal(err)
	}
	// the first shards go through, then users fails
	f.s.cfg.FanoutWorkers = 1
	var once sync.Once
	calls := 0
	f.users.mu.Lock()
	f.users.fail = nil
	f.users.mu.Unlock()
	failing := &countingUsers{inner: f.users, failAfter: 10, calls: &calls}
	f.s.contacts = failing
	if err := f.s.RunPendingJobs(ctx); err == nil {
		t.Fatal("the fan-out did not stop when users failed")
	}
	once.Do(func() { failing.failAfter = 1 << 30 })
	f.s.cache = newContactCache(time.Minute, f.s.now) // a restarted process
	if err := f.s.RunPendingJobs(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 400 {
		if items := f.inbox(t, fmt.Sprintf("u%03d", i)); len(items) != 1 {
			t.Fatalf("u%03d has %d notifications", i, len(items))
		}
	}
	list, _ := f.s.jobList.Get(ctx, jobListID)
	if list != nil && len(list.IDs) != 0 {
		t.Fatalf("jobs left: %v", list.IDs)
	}
}

type countingUsers struct {
	inner     *fakeUsers
	failAfter int
	calls     *int
}

func (c *countingUsers) Contacts(ctx context.Context, ids []string) ([]exports.Contact, error) {
	*c.calls++
	if *c.calls > c.failAfter {
		return nil, errors.New("users unreachable")
	}
	return c.inner.Contacts(ctx, ids)
}
func (c *countingUsers) OptOut(ctx context.Context, id string) error { return c.inner.OptOut(ctx, id) }

// Two deliveries of the same notice at once to the same listeners: each
// gets it once, with distinct sequence numbers for different notices.
func TestConcurrentDeliveries(t *testing.T) {
	f := newFixture(t)
	users := []string{"a", "b", "c"}
	for _, u := range users {
		f.users.add(u, events.ChannelChoices{InApp: true}, false, "")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := fmt.Sprintf("src-%d", i%4) // 4 notices, each delivered 5 times at once
			_, err := f.s.Deliver(ctx, users, domain.Notice{Source: src, Kind: domain.KindInvitation, Title: src, InApp: true})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && !errors.Is(err, state.ErrConflict) {
			t.Fatal(err)
		}
	}
	// a delivery that lost every retry to conflicts is redelivered by Dapr:
	// do that here, then every listener has each notice exactly once
	for i := range 4 {
		if _, err := f.s.Deliver(ctx, users, domain.Notice{Source: fmt.Sprintf("src-%d", i), Kind: domain.KindInvitation, InApp: true}); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range users {
		items := f.inbox(t, u)
		if len(items) != 4 {
			t.Fatalf("%s has %d items: %+v", u, len(items), items)
		}
		seen := map[int]bool{}
		for _, it := range items {
			if seen[it.Seq] {
				t.Fatalf("%s: sequence %d twice", u, it.Seq)
			}
			seen[it.Seq] = true
		}
	}
}

// Offers reach only listeners who opted in; the unsubscribe link in the
// email turns offers off, and a forged link does nothing.
func TestOffersAndUnsubscribe(t *testing.T) {
	f := newFixture(t)
	f.users.add("yes", defaults, true, "")
	f.users.add("no", defaults, false, "")
	f.users.add("changed", defaults, false, "") // opted in, then out: users is the truth
	for _, u := range []string{"yes", "changed"} {
		if err := f.s.Updated(ctx, events.UserUpdated{UserID: u, Fields: []string{"preferences"}, MarketingOptIn: ptr(true), UpdatedAt: f.now}); err != nil {
			t.Fatal(err)
		}
	}
	_ = f.s.Updated(ctx, events.UserUpdated{UserID: "no", Fields: []string{"preferences"}, MarketingOptIn: ptr(false), UpdatedAt: f.now})

	if _, _, err := f.s.PublishOffer(ctx, "admin", "", domain.Offer{Title: "", Body: "x", ValidUntil: f.now.Add(-time.Hour)}); err == nil ||
		!strings.Contains(fmt.Sprint(fieldsOf(err)), "title") || !strings.Contains(fmt.Sprint(fieldsOf(err)), "validUntil") {
		t.Fatalf("bad offer: %v %v", err, fieldsOf(err))
	}
	o, _, err := f.s.PublishOffer(ctx, "admin", "", domain.Offer{Title: "Half price", Body: "Three months at half price.", ValidUntil: f.now.Add(72 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.OfferOut(ctx, events.OfferPublished{OfferID: o.ID, Title: o.Title, Body: o.Body, ValidUntil: o.ValidUntil, PublishedAt: f.now}); err != nil {
		t.Fatal(err)
	}
	if err := f.s.RunPendingJobs(ctx); err != nil {
		t.Fatal(err)
	}
	if f.ch.count("email", "yes@") != 1 || f.ch.count("email", "no@") != 0 || f.ch.count("email", "changed@") != 0 {
		t.Fatalf("offer emails %+v", f.ch.out)
	}
	if len(f.inbox(t, "no")) != 0 || len(f.inbox(t, "changed")) != 0 || len(f.inbox(t, "yes")) != 1 {
		t.Fatal("in-app offers went to listeners who did not opt in")
	}
	body := f.ch.out[0].body
	i := strings.Index(body, "unsubscribe?token=")
	if i < 0 {
		t.Fatalf("no unsubscribe link in %s", body)
	}
	token := body[i+len("unsubscribe?token="):]
	token, _ = url.QueryUnescape(token[:strings.IndexByte(token, '"')])
	if err := f.s.Unsubscribe(ctx, token+"x"); !errors.Is(err, ErrBadLink) {
		t.Fatalf("forged token: %v", err)
	}
	forOther := strings.Replace(token, token[:strings.IndexByte(token, '.')], "bm8", 1) // "no", with yes's signature
	if err := f.s.Unsubscribe(ctx, forOther); !errors.Is(err, ErrBadLink) {
		t.Fatalf("another listener's token: %v", err)
	}
	if err := f.s.Unsubscribe(ctx, token); err != nil {
		t.Fatal(err)
	}
	if len(f.users.optedOut) != 1 || f.users.optedOut[0] != "yes" {
		t.Fatalf("opted out: %v", f.users.optedOut)
	}
}

func ptr[T any](v T) *T { return &v }

func fieldsOf(err error) []string {
	var fe *fault.Error
	if !errors.As(err, &fe) {
		return nil
	}
	var out []string
	for _, f := range fe.Fields {
		out = append(out, f.Field)
	}
	return out
}

// A channel that fails (after Dapr's retries) leaves the message failed;
// an administrator retries it, two retries at once send it once, and a
// sent message cannot be retried.
func TestFailedMessagesAndRetry(t *testing.T) {
	f := newFixture(t)
	f.users.add("u1", defaults, false, "")
	f.ch.fail = errors.New("dial tcp 127.0.0.1:1025: connection refused")
	if err := f.s.Registered(ctx, events.UserRegistered{UserID: "u1", RegisteredAt: f.now}); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Registered(ctx, events.UserRegistered{UserID: "u1", RegisteredAt: f.now}); err != nil { // redelivered
		t.Fatal(err)
	}
	failed, err := f.s.Failed(ctx, 10)
	if err != nil || len(failed) != 1 || failed[0].Status != domain.StatusFailed || !strings.Contains(failed[0].Error, "refused") {
		t.Fatalf("failed %+v %v", failed, err)
	}
	f.ch.fail = nil
	var wg sync.WaitGroup
	results := make(chan error, 5)
	for range 5 {
		wg.Add(1)
		go func() { defer wg.Done(); _, err := f.s.Retry(ctx, failed[0].ID); results <- err }()
	}
	wg.Wait()
	close(results)
	ok := 0
	for err := range results {
		if err == nil {
			ok++
		} else if !errors.Is(err, domain.ErrNotFailed) {
			t.Fatal(err)
		}
	}
	if ok != 1 || f.ch.count("email", "u1@") != 1 {
		t.Fatalf("%d retries succeeded, %d emails", ok, f.ch.count("email", "u1@"))
	}
	if _, err := f.s.Retry(ctx, failed[0].ID); !errors.Is(err, domain.ErrNotFailed) {
		t.Fatalf("retrying a sent message: %v", err)
	}
	if left, _ := f.s.Failed(ctx, 10); len(left) != 0 {
		t.Fatalf("still failed: %+v", left)
	}
	if _, err := f.s.Retry(ctx, "nope"); !errors.Is(err, domain.ErrMessageNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
}

// A send interrupted by a crash (recorded, never answered) is reported as
// failed by the sweep, never sent again on its own.
func TestSweepReportsInterruptedSends(t *testing.T) {
	f := newFixture(t)
	m := domain.Message{ID: "m1", Channel: domain.ChannelEmail, UserID: "u1", Kind: domain.KindWelcome, Status: domain.StatusPending,
		CreatedAt: f.now, UpdatedAt: f.now}
	shard := fmt.Sprint(domain.Shard("m1", domain.OpenShards))
	if err := f.s.msgs.Put(ctx, "m1", &m); err != nil {
		t.Fatal(err)
	}
	_ = f.s.open.Put(ctx, shard, &domain.Open{IDs: []string{"m1"}})
	if n, _ := f.s.Sweep(ctx); n != 0 {
		t.Fatal("a fresh pending message was swept")
	}
	f.now = f.now.Add(3 * time.Minute)
	if n, err := f.s.Sweep(ctx); n != 1 || err != nil {
		t.Fatalf("swept %d %v", n, err)
	}
	got, _ := f.s.msgs.Get(ctx, "m1")
	if got.Status != domain.StatusFailed || len(f.ch.out) != 0 {
		t.Fatalf("%+v, %d sent", got, len(f.ch.out))
	}
}

// Nobody reads or marks another listener's notifications, even with its id.
func TestInboxIsPrivateAndPaged(t *testing.T) {
	f := newFixture(t)
	f.users.add("alice", events.ChannelChoices{InApp: true}, false, "")
	f.users.add("mallory", events.ChannelChoices{InApp: true}, false, "")
	for i := range 25 {
		if _, err := f.s.Deliver(ctx, []string{"alice", "mallory"}, domain.Notice{Source: fmt.Sprint("n", i), Kind: domain.KindInvitation,
			Title: fmt.Sprint("n", i), InApp: true}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := f.s.List(ctx, "alice", false, 10, "")
	if err != nil || len(page.Items) != 10 || page.Items[0].Seq != 25 || page.NextCursor == "" || page.Unread != 25 {
		t.Fatalf("%+v %v", page, err)
	}
	aliceItem := page.Items[0]
	if _, err := f.s.MarkRead(ctx, "mallory", aliceItem.ID+"0"); !errors.Is(err, domain.ErrNotificationNotFound) {
		t.Fatalf("forged id: %v", err)
	}
	if _, err := f.s.MarkRead(ctx, "alice", "not-an-id"); fieldsOf(err) == nil || fieldsOf(err)[0] != "id" {
		t.Fatalf("malformed id: %v", err)
	}
	if _, err := f.s.MarkRead(ctx, "alice", aliceItem.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.MarkRead(ctx, "alice", aliceItem.ID); err != nil { // again: no-op
		t.Fatal(err)
	}
	mal, _ := f.s.List(ctx, "mallory", true, 100, "")
	if len(mal.Items) != 25 || mal.Unread != 25 {
		t.Fatalf("alice's read touched mallory's inbox: %d unread", mal.Unread)
	}
	var seqs []int
	cursor := ""
	for {
		p, err := f.s.List(ctx, "alice", true, 7, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range p.Items {
			seqs = append(seqs, it.Seq)
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	if len(seqs) != 24 || seqs[0] != 24 || seqs[23] != 1 {
		t.Fatalf("unread pages: %v", seqs)
	}
	if _, err := f.s.List(ctx, "alice", false, 10, "abc"); fieldsOf(err) == nil || fieldsOf(err)[0] != "cursor" {
		t.Fatalf("bad cursor: %v", err)
	}
	f.now = f.now.Add(time.Hour)
	readAll := f.now
	if err := f.s.ReadAll(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(time.Hour)
	if err := f.s.ReadAll(ctx, "alice"); err != nil { // nothing new: the time stays
		t.Fatal(err)
	}
	if p, _ := f.s.List(ctx, "alice", true, 10, ""); len(p.Items) != 0 || p.Unread != 0 {
		t.Fatalf("after read-all: %+v", p)
	}
	all, _ := f.s.List(ctx, "alice", false, 30, "")
	for _, it := range all.Items {
		if it.ReadAt == nil || (it.ID != aliceItem.ID && !it.ReadAt.Equal(readAll)) {
			t.Fatalf("item %d read at %v, want %v", it.Seq, it.ReadAt, readAll)
		}
	}
	items, last, err := f.s.Since(ctx, "alice", 20, 500)
	if err != nil || last != 25 || len(items) != 5 || items[0].Seq != 21 {
		t.Fatalf("since: %d items, last %d, %v", len(items), last, err)
	}
}

// A stream ticket works once; two uses at once let one through.
func TestStreamTicketsAreSingleUse(t *testing.T) {
	f := newFixture(t)
	tk, _, err := f.s.IssueTicket(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if u, err := f.s.RedeemTicket(ctx, tk); err == nil && u == "alice" {
				mu.Lock()
				won++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d redeemed the ticket", won)
	}
	if _, err := f.s.RedeemTicket(ctx, "made-up"); !errors.Is(err, ErrBadTicket) {
		t.Fatalf("made-up ticket: %v", err)
	}
	for k := range f.kv.Dump() {
		if strings.Contains(k, tk) {
			t.Fatal("the ticket itself is stored; only its hash may be")
		}
	}
}

// A deleted account leaves no inbox, follower entry or audience entry.
func TestForgetDeletedListener(t *testing.T) {
	f := newFixture(t)
	f.users.add("gone", defaults, true, "")
	_ = f.s.Followed(ctx, "gone", "a1", true, f.now)
	_ = f.s.Followed(ctx, "gone", "a2", true, f.now)
	_ = f.s.Updated(ctx, events.UserUpdated{UserID: "gone", Fields: []string{"preferences"}, MarketingOptIn: ptr(true), UpdatedAt: f.now})
	_ = f.s.Registered(ctx, events.UserRegistered{UserID: "gone", RegisteredAt: f.now})
	if err := f.s.Forget(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Forget(ctx, "gone"); err != nil { // redelivered
		t.Fatal(err)
	}
	for k, v := range f.kv.Dump() {
		if strings.HasPrefix(k, "msg|") || strings.HasPrefix(k, "open|") || strings.HasPrefix(k, "linkkey|") {
			continue // message records hold the id and kind only
		}
		if strings.Contains(k, "gone") || strings.Contains(string(v), "gone") {
			t.Errorf("%s still holds the deleted listener: %s", k, v)
		}
	}
}

// With two replicas on one store, one runs a fan-out at a time: the other
// leaves a leased job alone, and takes it over once the lease has lapsed
// (its holder died), going on from the last shard recorded.
func TestFanOutLeaseAcrossReplicas(t *testing.T) {
	f := newFixture(t)
	for i := range 50 {
		u := fmt.Sprintf("u%02d", i)
		f.users.add(u, events.ChannelChoices{InApp: true}, false, "")
		_ = f.s.Followed(ctx, u, "a", true, f.now)
	}
	other, err := New(f.kv, f.users, f.ch, f.pub, fakePlans{}, f.s.cfg, func() time.Time { return f.now })
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.Published(ctx, events.AlbumPublished{Album: events.Album{AlbumID: "x", ArtistID: "a", Title: "T"}, PublishedAt: f.now}); err != nil {
		t.Fatal(err)
	}
	list, _ := f.s.jobList.Get(ctx, jobListID)
	if _, err := f.s.lease(ctx, list.IDs[0], nil); err != nil { // the first replica holds it (and then dies)
		t.Fatal(err)
	}
	if err := other.RunPendingJobs(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(f.inbox(t, "u00")); n != 0 {
		t.Fatal("the second replica ran a fan-out the first one holds")
	}
	f.now = f.now.Add(JobLease + time.Second)
	if err := other.RunPendingJobs(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if n := len(f.inbox(t, fmt.Sprintf("u%02d", i))); n != 1 {
			t.Fatalf("u%02d has %d notifications after the takeover", i, n)
		}
	}
	job, _ := f.s.jobs.Get(ctx, list.IDs[0])
	if !job.Done || job.Delivered != 50 {
		t.Fatalf("job after the takeover: %+v", job)
	}
}

// An offer sent again with its Idempotency-Key (a retry after a lost answer)
// is published once; the key with another offer is refused; another admin's
// same key is their own.
func TestOfferIdempotencyKey(t *testing.T) {
	f := newFixture(t)
	o := domain.Offer{Title: "Spring", Body: "Half price.", ValidUntil: f.now.Add(time.Hour)}
	var wg sync.WaitGroup
	ids := make(chan string, 4)
	for range 4 { // the retry may even overlap the first request
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, _, err := f.s.PublishOffer(ctx, "admin-1", "key-1", o)
			if err != nil {
				t.Error(err)
				return
			}
			ids <- got.ID
		}()
	}
	wg.Wait()
	close(ids)
	first := ""
	for id := range ids {
		if first != "" && id != first {
			t.Fatalf("two offers for one key: %s, %s", first, id)
		}
		first = id
	}
	records := 0
	for k, v := range f.kv.Dump() {
		if strings.HasPrefix(k, "offer|") && strings.Contains(string(v), first) {
			records++
		}
	}
	if records != 1 {
		t.Fatalf("%d offer records", records)
	}
	if _, repeated, err := f.s.PublishOffer(ctx, "admin-1", "key-1", o); err != nil || !repeated {
		t.Fatalf("a repeat: %v %v", repeated, err)
	}
	other := o
	other.Title = "Summer"
	if _, _, err := f.s.PublishOffer(ctx, "admin-1", "key-1", other); !errors.Is(err, ErrOfferKeyReused) {
		t.Fatalf("the key with another offer: %v", err)
	}
	if got, repeated, err := f.s.PublishOffer(ctx, "admin-2", "key-1", o); err != nil || repeated || got.ID == first {
		t.Fatalf("another admin's key: %v %v", repeated, err)
	}
	if _, _, err := f.s.PublishOffer(ctx, "admin-1", strings.Repeat("k", 201), o); fieldsOf(err) == nil || fieldsOf(err)[0] != "Idempotency-Key" {
		t.Fatalf("a long key: %v", err)
	}
}

// Two reads of one notification at once count it read once; read-all while
// a delivery lands leaves the unread count equal to what is unread.
func TestReadsRacingDeliveries(t *testing.T) {
	f := newFixture(t)
	f.users.add("u", events.ChannelChoices{InApp: true}, false, "")
	for i := range 5 {
		if _, err := f.s.Deliver(ctx, []string{"u"}, domain.Notice{Source: fmt.Sprint("s", i), Kind: domain.KindInvitation, InApp: true}); err != nil {
			t.Fatal(err)
		}
	}
	items := f.inbox(t, "u")
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = f.s.MarkRead(ctx, "u", items[0].ID) }()
	}
	wg.Wait()
	if p, _ := f.s.List(ctx, "u", false, 10, ""); p.Unread != 4 {
		t.Fatalf("unread %d after one item read six times at once, want 4", p.Unread)
	}
	for round := range 20 {
		wg.Add(2)
		go func() { defer wg.Done(); _ = f.s.ReadAll(ctx, "u") }()
		go func() {
			defer wg.Done()
			_, _ = f.s.Deliver(ctx, []string{"u"}, domain.Notice{Source: fmt.Sprint("r", round), Kind: domain.KindInvitation, InApp: true})
		}()
		wg.Wait()
		p, err := f.s.List(ctx, "u", true, MaxPage, "")
		if err != nil {
			t.Fatal(err)
		}
		if p.Unread != len(p.Items) {
			t.Fatalf("round %d: unread says %d, %d items are unread", round, p.Unread, len(p.Items))
		}
	}
}

// Many listeners following one artist at once all land in its list.
func TestConcurrentFollowsAllCount(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := fmt.Sprintf("c%02d", i)
			f.users.add(u, events.ChannelChoices{InApp: true}, false, "")
			for {
				err := f.s.Followed(ctx, u, "a", true, f.now)
				if err == nil {
					return
				}
				if !errors.Is(err, state.ErrConflict) { // Dapr redelivers after a conflict-exhausted attempt
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := f.s.Published(ctx, events.AlbumPublished{Album: events.Album{AlbumID: "x", ArtistID: "a", Title: "T"}, PublishedAt: f.now}); err != nil {
		t.Fatal(err)
	}
	if err := f.s.RunPendingJobs(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if n := len(f.inbox(t, fmt.Sprintf("c%02d", i))); n != 1 {
			t.Fatalf("c%02d: %d notifications", i, n)
		}
	}
}

// A replica's own broadcast does not wake its streams again; another's does.
func TestOwnBroadcastIsSkipped(t *testing.T) {
	f := newFixture(t)
	wake, done := f.s.Hub.Subscribe("u")
	defer done()
	f.s.Delivered(events.NotificationsDelivered{UserIDs: []string{"u"}, Origin: f.s.id})
	select {
	case <-wake:
		t.Fatal("woken by its own broadcast")
	default:
	}
	f.s.Delivered(events.NotificationsDelivered{UserIDs: []string{"u"}, Origin: "another-replica"})
	select {
	case <-wake:
	default:
		t.Fatal("another replica's broadcast did not wake the stream")
	}
}
