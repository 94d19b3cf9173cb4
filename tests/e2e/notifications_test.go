package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/internal/synth"
)

// ---- Mailpit, through its REST API ---------------------------------------

type mailMessage struct {
	ID   string `json:"ID"`
	From struct {
		Name, Address string
	} `json:"From"`
	To []struct {
		Name, Address string
	} `json:"To"`
	Subject string `json:"Subject"`
}

// mailsTo lists the messages Mailpit holds for address.
func mailsTo(t *testing.T, address string) []mailMessage {
	t.Helper()
	resp, err := httpc.Get(stack.MailpitURL + "/api/v1/search?limit=200&query=" + url.QueryEscape("to:"+address))
	if err != nil {
		t.Fatalf("mailpit: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		Messages []mailMessage `json:"messages"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("mailpit search: %v", err)
	}
	var mine []mailMessage
	for _, m := range out.Messages {
		for _, to := range m.To {
			if strings.EqualFold(to.Address, address) {
				mine = append(mine, m)
			}
		}
	}
	return mine
}

func mailsWithSubject(t *testing.T, address, subject string) []mailMessage {
	t.Helper()
	var out []mailMessage
	for _, m := range mailsTo(t, address) {
		if strings.Contains(m.Subject, subject) {
			out = append(out, m)
		}
	}
	return out
}

// waitMail waits for a message to address whose subject contains subject.
func waitMail(t *testing.T, address, subject string) mailMessage {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if ms := mailsWithSubject(t, address, subject); len(ms) > 0 {
			return ms[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no email %q to %s; Mailpit has %+v", subject, address, mailsTo(t, address))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func mailHTML(t *testing.T, id string) string {
	t.Helper()
	resp, err := httpc.Get(stack.MailpitURL + "/api/v1/message/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m struct{ HTML string }
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m.HTML
}

// ---- in-app and the live stream -------------------------------------------

type notification struct {
	ID     string  `json:"id"`
	Seq    int     `json:"seq"`
	Kind   string  `json:"kind"`
	Title  string  `json:"title"`
	Body   string  `json:"body"`
	ReadAt *string `json:"readAt"`
}

func inbox(t *testing.T, tok string, query string) (items []notification, unread int) {
	t.Helper()
	r := do(t, "GET", gw+"/me/notifications"+query, tok, nil)
	expect(t, r, 200)
	var page struct {
		Items  []notification `json:"items"`
		Unread int            `json:"unread"`
	}
	r.json(t, &page)
	return page.Items, page.Unread
}

func waitInbox(t *testing.T, tok, kind string) notification {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		items, _ := inbox(t, tok, "")
		for _, it := range items {
			if it.Kind == kind {
				return it
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s notification; inbox %+v", kind, items)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type sseEvent struct {
	ID, Event, Data string
	At              time.Time
}

// openStream opens the live stream through the gateway (Bearer token, or a
// ticket in the URL) and delivers its events on a channel.
func openStream(t *testing.T, tok, ticket, lastID string) (<-chan sseEvent, func()) {
	t.Helper()
	u := gw + "/me/notifications/stream"
	if ticket != "" {
		u += "?ticket=" + url.QueryEscape(ticket)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	req.Header.Set("Accept", "text/event-stream")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := (&http.Client{}).Do(req) // no client timeout: a stream lasts
	if err != nil {
		cancel()
		t.Fatalf("open stream: %v", err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b := make([]byte, 2048)
		n, _ := resp.Body.Read(b)
		resp.Body.Close()
		cancel()
		t.Fatalf("stream answered %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b[:n])
	}
	ch := make(chan sseEvent, 64)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Data != "" {
					ev.At = time.Now()
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.ID = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				ev.Event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.Data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return ch, cancel
}

func nextEvent(t *testing.T, ch <-chan sseEvent, wait time.Duration) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(wait):
		t.Fatalf("no event on the stream within %s", wait)
	}
	return sseEvent{}
}

func streamTicket(t *testing.T, tok string) string {
	t.Helper()
	r := do(t, "POST", gw+"/me/notifications/stream-ticket", tok, nil)
	expect(t, r, 201)
	var tk struct{ Ticket string }
	r.json(t, &tk)
	return tk.Ticket
}

// ---- tests ------------------------------------------------------------------

// Signing up sends a welcome email, addressed by name, through the email
// binding to Mailpit; and an in-app welcome.
func TestRegistrationEmailArrives(t *testing.T) {
	a := newAccount(t)
	m := waitMail(t, a.Email, "Welcome to Harmonia")
	if len(m.To) != 1 || !strings.HasPrefix(m.To[0].Name, "Test ") || m.From.Address != "hello@harmonia.local" {
		t.Fatalf("welcome email headers: %+v", m)
	}
	if html := mailHTML(t, m.ID); !strings.Contains(html, "Hi "+m.To[0].Name) {
		t.Fatalf("welcome email body does not greet by name:\n%s", html)
	}
	waitInbox(t, a.AccessToken, "welcome")
	// a display name with non-ASCII letters and a quote reaches Mailpit intact
	email := "e2e-" + randomHex(6) + "@example.com"
	r := do(t, "POST", gw+"/auth/register", "", map[string]any{"email": email, "password": "pw-" + randomHex(8),
		"displayName": `Zoë "Ång" Ström`, "country": "SE", "birthYear": 1994})
	expect(t, r, 201)
	if m := waitMail(t, email, "Welcome"); len(m.To) != 1 || m.To[0].Name != `Zoë "Ång" Ström` || m.To[0].Address != email {
		t.Fatalf("non-ASCII name: %+v", m.To)
	}
}

// Following an artist, then the artist publishing an album: the follower
// hears of it in-app and on the live stream (opened before the publish,
// once with the Bearer token and once with a ticket, as a browser would);
// a reconnect with Last-Event-ID replays what was missed.
func TestNewReleaseReachesFollowersLive(t *testing.T) {
	artist, artistID := artistSetup(t)
	fan, other := newAccount(t), newAccount(t)
	follows, unfollows := handled(t, "artist.followed"), handled(t, "artist.unfollowed")
	expect(t, do(t, "PUT", gw+"/me/following/"+artistID, fan.AccessToken, nil), 204)
	expect(t, do(t, "PUT", gw+"/me/following/"+artistID, other.AccessToken, nil), 204)
	// other unfollows again: artist.unfollowed keeps the list right
	expect(t, do(t, "DELETE", gw+"/me/following/"+artistID, other.AccessToken, nil), 204)
	waitHandled(t, "artist.followed", follows, 2) // the follow events travel through the broker
	waitHandled(t, "artist.unfollowed", unfollows, 1)

	byToken, stopA := openStream(t, fan.AccessToken, "", "")
	defer stopA()
	ticket := streamTicket(t, fan.AccessToken)
	byTicket, stopB := openStream(t, "", ticket, "")
	defer stopB()
	// a ticket is single-use, and never a way into someone else's stream
	req, _ := http.NewRequest("GET", gw+"/me/notifications/stream?ticket="+url.QueryEscape(ticket), nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("a used ticket opened a stream: %d", resp.StatusCode)
	}

	r := do(t, "POST", gw+"/albums", artist.AccessToken, map[string]any{"artistId": artistID, "title": "Live " + randomHex(3), "genre": "folk", "releaseDate": "2025-01-01"})
	expect(t, r, 201)
	var al struct{ ID, Title string }
	r.json(t, &al)
	addTrack(t, artist.AccessToken, al.ID, 1, synth.WAV(61, 1, 8000))
	published := time.Now()
	expect(t, do(t, "POST", gw+"/albums/"+al.ID+"/publish", artist.AccessToken, nil), 200)

	var seen []sseEvent
	for _, ch := range []<-chan sseEvent{byToken, byTicket} {
		ev := nextEvent(t, ch, 30*time.Second)
		var n notification
		if err := json.Unmarshal([]byte(ev.Data), &n); err != nil {
			t.Fatal(err)
		}
		if ev.Event != "notification" || n.Kind != "release" || !strings.Contains(n.Body, al.Title) || ev.ID != strconv.Itoa(n.Seq) {
			t.Fatalf("stream event %+v", ev)
		}
		seen = append(seen, ev)
	}
	t.Logf("album.published to the live stream: %s (bearer), %s (ticket); the bench measures p50/p99",
		seen[0].At.Sub(published).Round(time.Millisecond), seen[1].At.Sub(published).Round(time.Millisecond))
	it := waitInbox(t, fan.AccessToken, "release")
	if items, _ := inbox(t, other.AccessToken, ""); len(items) != 1 || items[0].Kind != "welcome" {
		t.Fatalf("a listener who unfollowed got %+v", items)
	}
	// another listener cannot mark it read, even knowing its id
	expectProblem(t, do(t, "POST", gw+"/me/notifications/"+it.ID+"/read", other.AccessToken, nil), 404, "")
	stopA()
	stopB()

	// Missed while away: publish another album, then reconnect from the last id.
	al2 := createAlbum(t, artist.AccessToken, artistID, "folk", "2025-02-02")
	addTrack(t, artist.AccessToken, al2, 1, synth.WAV(62, 1, 8000))
	expect(t, do(t, "POST", gw+"/albums/"+al2+"/publish", artist.AccessToken, nil), 200)
	deadline := time.Now().Add(30 * time.Second)
	for {
		items, _ := inbox(t, fan.AccessToken, "")
		releases := 0
		for _, it := range items {
			if it.Kind == "release" {
				releases++
			}
		}
		if releases == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("second release not in the inbox: %+v", items)
		}
		time.Sleep(200 * time.Millisecond)
	}
	again, stop := openStream(t, fan.AccessToken, "", seen[0].ID)
	defer stop()
	ev := nextEvent(t, again, 10*time.Second)
	if want, _ := strconv.Atoi(seen[0].ID); ev.ID != strconv.Itoa(want+1) || !strings.Contains(ev.Data, "release") {
		t.Fatalf("replay after %s: %+v", seen[0].ID, ev)
	}
	// mark one read, then all
	expect(t, do(t, "POST", gw+"/me/notifications/"+it.ID+"/read", fan.AccessToken, nil), 200)
	expect(t, do(t, "POST", gw+"/me/notifications/read-all", fan.AccessToken, nil), 204)
	if items, unread := inbox(t, fan.AccessToken, "?unread=true"); len(items) != 0 || unread != 0 {
		t.Fatalf("after read-all: %d unread, %+v", unread, items)
	}
	expectProblem(t, do(t, "GET", gw+"/me/notifications/stream", fan.AccessToken, nil, "Last-Event-ID", "abc"), 400, "Last-Event-ID")
	expectProblem(t, do(t, "POST", gw+"/me/notifications/not-an-id/read", fan.AccessToken, nil), 400, "id")
	expectProblem(t, do(t, "GET", gw+"/me/notifications?limit=0", fan.AccessToken, nil), 400, "limit")
	expectProblem(t, do(t, "GET", gw+"/me/notifications?unread=maybe", fan.AccessToken, nil), 400, "unread")
}

func setPrefs(t *testing.T, tok string, email, sms, inApp, marketing bool) {
	t.Helper()
	expect(t, do(t, "PUT", gw+"/me/preferences", tok, map[string]any{"favouriteGenres": []string{},
		"notifications": map[string]bool{"email": email, "sms": sms, "inApp": inApp}, "marketingOptIn": marketing}), 200)
}

func smsFiles(t *testing.T, number string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(stack.DataDir, "sms", number+"-*.txt"))
	return files
}

// A failed payment is a security message: an email even with email off,
// and a text message only to the listener who chose SMS.
func TestPaymentFailedTextsOnlyListenersWhoChoseSMS(t *testing.T) {
	on, off := newAccount(t), newAccount(t)
	numOn, numOff := "+35191"+fmt.Sprint(1000000+time.Now().UnixNano()%8999999), "+35192"+fmt.Sprint(1000000+time.Now().UnixNano()%8999999)
	expect(t, do(t, "PATCH", gw+"/me", on.AccessToken, map[string]any{"phone": numOn}), 200)
	expect(t, do(t, "PATCH", gw+"/me", off.AccessToken, map[string]any{"phone": numOff}), 200)
	setPrefs(t, on.AccessToken, true, true, true, false)
	setPrefs(t, off.AccessToken, false, false, true, false)
	for _, a := range []account{on, off} {
		pm := addCard(t, a.AccessToken, "4000000000000002") // declined
		r := subscribe(t, a.AccessToken, "sms-"+randomHex(4), "individual", pm)
		expect(t, r, 202)
		var s subscription
		r.json(t, &s)
		if got := settle(t, a.AccessToken, s.ID); got.Status != "payment_failed" {
			t.Fatalf("checkout ended %s", got.Status)
		}
	}
	waitMail(t, off.Email, "did not go through") // email off, yet told
	waitMail(t, on.Email, "did not go through")
	waitInbox(t, off.AccessToken, "payment_failed")
	deadline := time.Now().Add(30 * time.Second)
	for len(smsFiles(t, numOn)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no SMS file for %s in %s", numOn, filepath.Join(stack.DataDir, "sms"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	files := smsFiles(t, numOn)
	b, _ := os.ReadFile(files[0])
	if len(files) != 1 || !strings.Contains(string(b), "payment") || !strings.Contains(string(b), "Individual") {
		t.Fatalf("SMS files %v: %q", files, b)
	}
	// the other's messages were handled by now (its email and in-app came)
	if got := smsFiles(t, numOff); len(got) != 0 {
		t.Fatalf("a listener with SMS off got %v", got)
	}
}

// handled counts the events of topic notifications has answered.
func handled(t *testing.T, topic string) float64 {
	t.Helper()
	for _, a := range stack.Apps {
		if a.AppID == "notifications" {
			return metric(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", a.AdminPort), "harmonia_http_requests_total",
				map[string]string{"route": "/events/" + topic, "status": "200"})
		}
	}
	t.Fatal("no notifications app")
	return 0
}

// waitHandled waits until notifications has answered n more events of topic
// than before (the events a test caused, so what follows does not race them).
func waitHandled(t *testing.T, topic string, before, n float64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for handled(t, topic) < before+n {
		if time.Now().After(deadline) {
			t.Fatalf("notifications handled %v of %v %s events", handled(t, topic)-before, n, topic)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fanouts reads notifications' count of finished fan-outs.
func fanouts(t *testing.T) float64 {
	t.Helper()
	for _, a := range stack.Apps {
		if a.AppID == "notifications" {
			return metricValue(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", a.AdminPort), "harmonia_notifications_fanouts_total")
		}
	}
	t.Fatal("no notifications app")
	return 0
}

func metricValue(t *testing.T, u, name string) float64 {
	t.Helper()
	resp, err := httpc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	return 0
}

// Offers reach listeners who opted in, not those who did not; the link in
// the email turns offers off without signing in.
func TestOffersReachOnlyOptedInAndUnsubscribeWorks(t *testing.T) {
	yes, no := newAccount(t), newAccount(t)
	updates := handled(t, "user.updated")
	setPrefs(t, yes.AccessToken, true, false, true, true)
	setPrefs(t, no.AccessToken, true, false, true, false)
	waitHandled(t, "user.updated", updates, 2) // user.updated travels to notifications
	admin := adminTokens(t)
	expectProblem(t, do(t, "POST", gw+"/admin/offers", yes.AccessToken, map[string]any{"title": "x", "body": "y", "validUntil": "2030-01-01T00:00:00Z"}), 403, "")
	expectProblem(t, do(t, "POST", gw+"/admin/offers", admin.AccessToken, map[string]any{"title": "", "body": "y", "validUntil": "2030-01-01T00:00:00Z"}), 400, "title")
	before := fanouts(t)
	title := "Half price " + randomHex(3)
	offer := map[string]any{"title": title, "body": "Three months of Individual at half price.",
		"planId": "individual", "validUntil": time.Now().Add(72 * time.Hour).UTC().Format(time.RFC3339)}
	key := "offer-" + randomHex(4)
	r := do(t, "POST", gw+"/admin/offers", admin.AccessToken, offer, "Idempotency-Key", key)
	expect(t, r, 201)
	var first struct{ ID string }
	r.json(t, &first)
	// the same request again (a retry after a lost answer): the first offer, nothing sent twice
	r = do(t, "POST", gw+"/admin/offers", admin.AccessToken, offer, "Idempotency-Key", key)
	expect(t, r, 200)
	var again struct{ ID string }
	r.json(t, &again)
	if again.ID != first.ID {
		t.Fatalf("a retried offer made another: %s, %s", first.ID, again.ID)
	}
	m := waitMail(t, yes.Email, title)
	deadline := time.Now().Add(30 * time.Second)
	defer func() { // one email for the offer sent twice
		if got := mailsWithSubject(t, yes.Email, title); len(got) != 1 {
			t.Errorf("%d emails for one offer sent twice with its key", len(got))
		}
	}()
	for fanouts(t) < before+1 {
		if time.Now().After(deadline) {
			t.Fatal("the offer's fan-out did not finish")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := mailsWithSubject(t, no.Email, title); len(got) != 0 {
		t.Fatalf("a listener who did not opt in got the offer: %+v", got)
	}
	for _, it := range func() []notification { i, _ := inbox(t, no.AccessToken, ""); return i }() {
		if it.Kind == "offer" {
			t.Fatal("a listener who did not opt in got the offer in-app")
		}
	}
	waitInbox(t, yes.AccessToken, "offer")

	html := mailHTML(t, m.ID)
	i := strings.Index(html, "/api/v1/notifications/unsubscribe?token=")
	if i < 0 {
		t.Fatalf("no unsubscribe link:\n%s", html)
	}
	link := html[strings.LastIndex(html[:i], `"`)+1:]
	link = strings.ReplaceAll(link[:strings.IndexByte(link, '"')], "&amp;", "&")
	if !strings.HasPrefix(link, stack.GatewayURL) {
		t.Fatalf("the link %q does not point at the gateway %s", link, stack.GatewayURL)
	}
	expectProblem(t, do(t, "GET", link+"x", "", nil), 400, "token")
	resp, err := httpc.Get(link) // no sign-in
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("unsubscribe answered %d", resp.StatusCode)
	}
	var prefs struct {
		MarketingOptIn bool `json:"marketingOptIn"`
	}
	do(t, "GET", gw+"/me/preferences", yes.AccessToken, nil).json(t, &prefs)
	if prefs.MarketingOptIn {
		t.Fatal("the unsubscribe link did not turn offers off")
	}
	// the next offer does not reach them (once users' user.updated is in)
	waitHandled(t, "user.updated", updates, 3)
	before = fanouts(t)
	second := "Second offer " + randomHex(3)
	expect(t, do(t, "POST", gw+"/admin/offers", admin.AccessToken, map[string]any{"title": second, "body": "b",
		"validUntil": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}), 201)
	for fanouts(t) < before+1 {
		time.Sleep(200 * time.Millisecond)
	}
	if got := mailsWithSubject(t, yes.Email, second); len(got) != 0 {
		t.Fatal("an unsubscribed listener got the next offer")
	}
}

// The same event delivered twice (the broker redelivering it, same
// CloudEvent id) or published again (a new id, the same fact) gives one
// email.
func TestDuplicatedEventGivesOneEmail(t *testing.T) {
	a := newAccount(t)
	waitMail(t, a.Email, "Welcome to Harmonia")
	var auth struct {
		port  int
		token string
	}
	for _, x := range stack.Apps {
		if x.AppID == "auth" {
			auth.port, auth.token = x.DaprHTTPPort, x.DaprAPIToken
		}
	}
	publish := func(id string) {
		ce := map[string]any{"specversion": "1.0", "id": id, "source": "auth", "type": "com.dapr.event.sent",
			"datacontenttype": "application/json", "data": map[string]any{"userId": a.UserID, "registeredAt": time.Now().UTC()}}
		r := do(t, "POST", fmt.Sprintf("http://127.0.0.1:%d/v1.0/publish/pubsub/user.registered", auth.port), "", ce,
			"dapr-api-token", auth.token, "Content-Type", "application/cloudevents+json")
		expect(t, r, 204)
	}
	registered := handled(t, "user.registered")
	same := "dup-" + randomHex(6)
	publish(same)
	publish(same)
	publish("dup-" + randomHex(6))
	// each copy answered (the same id twice: Dapr delivers both; the inbox
	// skips the second), and a later sign-up's welcome arrives
	waitHandled(t, "user.registered", registered, 3)
	b := newAccount(t)
	waitMail(t, b.Email, "Welcome to Harmonia")
	if got := mailsWithSubject(t, a.Email, "Welcome to Harmonia"); len(got) != 1 {
		t.Fatalf("%d welcome emails after duplicates, want 1", len(got))
	}
	items, _ := inbox(t, a.AccessToken, "")
	if len(items) != 1 {
		t.Fatalf("in-app after duplicates: %+v", items)
	}
}

var restarted struct {
	mu    sync.Mutex
	procs []*exec.Cmd
}

// stopRestarted ends the Mailpit a test started again (runMain calls it).
func stopRestarted() {
	restarted.mu.Lock()
	defer restarted.mu.Unlock()
	for _, c := range restarted.procs {
		_ = c.Process.Signal(syscall.SIGTERM)
		_, _ = c.Process.Wait()
	}
	restarted.procs = nil
}

// mailpitProcess finds the stack's Mailpit and its command line.
func mailpitProcess(t *testing.T) (int, []string) {
	t.Helper()
	out, _ := exec.Command("pgrep", "-f", filepath.Join(stack.DataDir, "mailpit.db")).Output()
	for _, f := range strings.Fields(string(out)) {
		pid, _ := strconv.Atoi(f)
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if strings.HasSuffix(args[0], "mailpit") {
			return pid, args
		}
	}
	t.Fatal("no Mailpit process of this stack")
	return 0, nil
}

// Mailpit stopped: the email fails after the resiliency policy's retries
// and is recorded as failed; an administrator sees it and retries it once
// Mailpit is back; exactly one email arrives, and a second retry is refused.
func TestMailpitDownThenUpGivesExactlyOneEmail(t *testing.T) {
	pid, args := mailpitProcess(t)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for syscall.Kill(pid, 0) == nil && !isZombie(pid) {
		time.Sleep(50 * time.Millisecond)
	}
	admin := adminTokens(t)
	a := newAccount(t) // its welcome email cannot be sent
	var failed struct {
		Items []struct {
			ID, UserID, Channel, Kind, Status, Error string
		}
	}
	var id string
	deadline := time.Now().Add(60 * time.Second)
	for id == "" {
		r := do(t, "GET", gw+"/admin/notifications/failed", admin.AccessToken, nil)
		expect(t, r, 200)
		r.json(t, &failed)
		for _, m := range failed.Items {
			if m.UserID == a.UserID && m.Kind == "welcome" && m.Channel == "email" {
				id = m.ID
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the failed welcome email is not listed: %+v", failed.Items)
		}
		time.Sleep(300 * time.Millisecond)
	}
	expectProblem(t, do(t, "GET", gw+"/admin/notifications/failed", a.AccessToken, nil), 403, "")
	expectProblem(t, do(t, "POST", gw+"/admin/notifications/failed/"+id+"/retry", a.AccessToken, nil), 403, "")

	cmd := exec.Command(args[0], args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	restarted.mu.Lock()
	restarted.procs = append(restarted.procs, cmd)
	restarted.mu.Unlock()
	deadline = time.Now().Add(30 * time.Second)
	for {
		if resp, err := httpc.Get(stack.MailpitURL + "/api/v1/messages?limit=1"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Mailpit did not come back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := mailsTo(t, a.Email); len(got) != 0 {
		t.Fatalf("mail arrived while Mailpit was down: %+v", got)
	}
	r := do(t, "POST", gw+"/admin/notifications/failed/"+id+"/retry", admin.AccessToken, nil)
	expect(t, r, 200)
	var m struct{ Status string }
	r.json(t, &m)
	if m.Status != "sent" {
		t.Fatalf("retry: %s", r.Body)
	}
	expectProblem(t, do(t, "POST", gw+"/admin/notifications/failed/"+id+"/retry", admin.AccessToken, nil), 409, "")
	waitMail(t, a.Email, "Welcome to Harmonia")
	time.Sleep(time.Second)
	if got := mailsTo(t, a.Email); len(got) != 1 {
		t.Fatalf("%d emails after Mailpit returned, want 1", len(got))
	}
}
