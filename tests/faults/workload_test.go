package faults

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// listener is a signed-in account of the workload.
type listener struct {
	Email, Token, Playlist string
}

// checkoutRec is a checkout the system accepted (202), or one whose answer
// was lost (Sub ""): its listener's subscription is looked up afterwards.
type checkoutRec struct {
	Email, Token, Sub, Card string
}

// workload is the mixed traffic: listeners browse album pages, stream
// tracks from the first byte (each a play), add tracks to their playlists
// and read them back, and new listeners check out with a mix of test
// cards. It keeps what the system acknowledged, for the invariants.
type workload struct {
	admin     string
	listeners []listener
	albums    []string
	tracks    []string

	mu          sync.Mutex
	playsMade   int             // streams from byte 0 answered 200 and read whole
	playsFailed int             // streams from byte 0 that failed: counted or not
	entries     map[string]bool // playlist entry ids a 200 answer held: playlist|entry
	checkouts   []checkoutRec
	registered  []string // emails of every account registered (welcome mail)
	window      *window  // the fault window, when one is open
}

// window records, per route class, how requests ended while a fault was on.
type window struct {
	statuses      map[string]map[int]int
	noRetryAfter  int // 503 answers without Retry-After
	albumTimeouts int // album routes that got no answer at all (client timeout)
}

func newWindow() *window { return &window{statuses: map[string]map[int]int{}} }

func (w *window) add(class string, r response) {
	if w.statuses[class] == nil {
		w.statuses[class] = map[int]int{}
	}
	w.statuses[class][r.Status]++
	if r.Status == 503 && r.Header.Get("Retry-After") == "" {
		w.noRetryAfter++
	}
	if class == "albums" && r.Status == 0 {
		w.albumTimeouts++
	}
}

// cards: mostly good, some declined, some that fail at the processor twice
// before they succeed.
var cards = []string{"4242424242424242", "4242424242424242", "4242424242424242", "4000000000000002", "4242424242424242",
	"4000000000000119", "4242424242424242", "4000000000009995"}

func setup(t *testing.T) *workload {
	t.Helper()
	w := &workload{entries: map[string]bool{}}
	var tk struct {
		AccessToken string `json:"accessToken"`
	}
	must(t, "POST", gw+"/auth/login", "", map[string]string{"email": "admin@harmonia.local", "password": adminPassword}, 200, &tk)
	w.admin = tk.AccessToken
	var page struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	must(t, "GET", gw+"/albums?limit=6", w.admin, nil, 200, &page)
	for _, a := range page.Items {
		var al struct {
			Tracks []struct {
				ID    string `json:"id"`
				Audio *struct {
					SHA256 string `json:"sha256"`
				} `json:"audio"`
			} `json:"tracks"`
		}
		must(t, "GET", gw+"/albums/"+a.ID, w.admin, nil, 200, &al)
		w.albums = append(w.albums, a.ID)
		for _, tr := range al.Tracks {
			if tr.Audio != nil {
				w.tracks = append(w.tracks, tr.ID)
			}
		}
	}
	if len(w.tracks) < 5 {
		t.Fatalf("the seed catalogue has %d tracks with audio", len(w.tracks))
	}
	for i := 0; i < 6; i++ {
		l := w.register(t)
		var pl struct {
			ID string `json:"id"`
		}
		must(t, "POST", gw+"/playlists", l.Token, map[string]any{"name": "Faults " + randomHex(2)}, 201, &pl)
		l.Playlist = pl.ID
		w.listeners = append(w.listeners, l)
	}
	return w
}

func (w *workload) register(t *testing.T) listener {
	t.Helper()
	email := "faults-" + randomHex(6) + "@example.com"
	var tk struct {
		AccessToken string `json:"accessToken"`
	}
	must(t, "POST", gw+"/auth/register", "", map[string]any{"email": email, "password": "pw-" + randomHex(8),
		"displayName": "Fault " + randomHex(2), "country": "PT", "birthYear": 1990}, 201, &tk)
	w.mu.Lock()
	w.registered = append(w.registered, email)
	w.mu.Unlock()
	return listener{Email: email, Token: tk.AccessToken}
}

func (w *workload) note(class string, r response) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.window != nil {
		w.window.add(class, r)
	}
}

// request is the load generator's request number i.
func (w *workload) request(ctx context.Context, c *http.Client, i int) int {
	l := w.listeners[i%len(w.listeners)]
	switch i % 30 {
	case 0, 1, 2, 3, 4, 5, 6, 7, 8:
		r := call(ctx, c, "GET", gw+"/albums/"+w.albums[i%len(w.albums)], l.Token, nil)
		w.note("albums", r)
		return r.Status
	case 9, 10:
		r := call(ctx, c, "GET", gw+"/albums?limit=10", l.Token, nil)
		w.note("albums", r)
		return r.Status
	case 11, 12, 13, 14, 15, 16:
		return w.stream(ctx, c, l, w.tracks[i%len(w.tracks)])
	case 17, 18, 19, 20:
		r := call(ctx, c, "POST", gw+"/playlists/"+l.Playlist+"/tracks", l.Token, map[string]any{"trackId": w.tracks[i%len(w.tracks)]})
		w.note("playlists", r)
		if r.Status == 200 {
			w.keepEntries(l.Playlist, r.Body)
		}
		return r.Status
	case 21, 22, 23:
		r := call(ctx, c, "GET", gw+"/playlists/"+l.Playlist, l.Token, nil)
		w.note("playlists", r)
		return r.Status
	case 24, 25:
		r := call(ctx, c, "GET", gw+"/me", l.Token, nil)
		w.note("users", r)
		return r.Status
	case 26, 27:
		r := call(ctx, c, "GET", gw+"/me/payments", l.Token, nil)
		w.note("payments", r)
		return r.Status
	case 28:
		r := call(ctx, c, "GET", gw+"/search?q=cafe", l.Token, nil)
		w.note("search", r)
		return r.Status
	default:
		return w.checkout(ctx, c, i)
	}
}

// stream plays a track from its first byte and reads it whole.
func (w *workload) stream(ctx context.Context, c *http.Client, l listener, track string) int {
	req, _ := http.NewRequestWithContext(ctx, "GET", gw+"/tracks/"+track+"/stream", nil)
	req.Header.Set("Authorization", "Bearer "+l.Token)
	resp, err := c.Do(req)
	status, ok := 0, false
	var h http.Header
	if err == nil {
		status, h = resp.StatusCode, resp.Header
		_, rerr := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		ok = rerr == nil && status == 200
		if rerr != nil {
			status = 0
		}
	}
	w.mu.Lock()
	if ok {
		w.playsMade++
	} else if status == 0 || status >= 500 {
		w.playsFailed++ // albums may have counted it before the answer broke
	}
	w.mu.Unlock()
	w.note("albums", response{Status: status, Header: h})
	return status
}

func (w *workload) keepEntries(playlist string, body []byte) {
	var p struct {
		Entries []struct {
			ID string `json:"id"`
		} `json:"entries"`
	}
	if jsonUnmarshal(body, &p) != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range p.Entries {
		w.entries[playlist+"|"+e.ID] = true
	}
}

// checkout: a new listener adds a card and subscribes. A request whose
// answer is lost is sent again with the same Idempotency-Key, as a client
// would; if no answer ever comes the checkout is kept with no id and its
// listener's subscription is looked up afterwards.
func (w *workload) checkout(ctx context.Context, c *http.Client, i int) int {
	email := "faults-co-" + randomHex(6) + "@example.com"
	var tk struct {
		AccessToken string `json:"accessToken"`
	}
	r := call(ctx, c, "POST", gw+"/auth/register", "", map[string]any{"email": email, "password": "pw-" + randomHex(8),
		"displayName": "Buyer", "country": "PT", "birthYear": 1985})
	w.note("auth", r)
	if r.Status != 201 || jsonUnmarshal(r.Body, &tk) != nil {
		return r.Status
	}
	w.mu.Lock()
	w.registered = append(w.registered, email)
	w.mu.Unlock()
	card := cards[(i/30)%len(cards)]
	var pm struct {
		ID string `json:"id"`
	}
	r = call(ctx, c, "POST", gw+"/me/payment-methods", tk.AccessToken, map[string]any{"cardNumber": card, "expMonth": 12, "expYear": 2031,
		"cvc": "123", "holderName": "Buyer"})
	w.note("payments", r)
	if r.Status != 201 || jsonUnmarshal(r.Body, &pm) != nil {
		return r.Status
	}
	key := "faults-" + randomHex(8)
	rec := checkoutRec{Email: email, Token: tk.AccessToken, Card: card}
	for attempt := 0; attempt < 5; attempt++ {
		r = call(ctx, c, "POST", gw+"/subscriptions", tk.AccessToken, map[string]string{"planId": "individual", "paymentMethodId": pm.ID},
			"Idempotency-Key", key)
		w.note("subscriptions", r)
		if r.Status != 0 && r.Status < 500 {
			break
		}
		time.Sleep(time.Second)
	}
	var s struct {
		ID string `json:"id"`
	}
	switch {
	case r.Status == 202 && jsonUnmarshal(r.Body, &s) == nil:
		rec.Sub = s.ID
	case r.Status == 0 || r.Status >= 500:
		// the answer was lost: the checkout may or may not exist
	default:
		return r.Status
	}
	w.mu.Lock()
	w.checkouts = append(w.checkouts, rec)
	w.mu.Unlock()
	return r.Status
}

func (w *workload) counts() (made, failed int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.playsMade, w.playsFailed
}

func (w *workload) describe() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return fmt.Sprintf("%d plays, %d playlist entries, %d checkouts, %d accounts", w.playsMade, len(w.entries), len(w.checkouts), len(w.registered))
}

func classes(w *window) string {
	if w == nil {
		return ""
	}
	var parts []string
	for _, class := range []string{"albums", "playlists", "users", "payments", "subscriptions", "search", "auth"} {
		m := w.statuses[class]
		bad := 0
		total := 0
		for st, n := range m {
			total += n
			if st == 0 || st >= 500 {
				bad += n
			}
		}
		if bad > 0 {
			parts = append(parts, fmt.Sprintf("%s %d/%d", class, bad, total))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
