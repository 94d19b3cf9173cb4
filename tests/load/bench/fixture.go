package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// fixture is what the scenarios need: users with tokens and playlists, and
// catalogue ids.
type fixture struct {
	base      string
	users     [][2]string // email, password
	tokens    []string
	playlists []string
	albums    []string
	tracks    []string
	genres    []string
	names     []string // artist names and album titles, for search queries
}

var setupClient = &http.Client{Timeout: 30 * time.Second}

func call(ctx context.Context, method, url, token string, in, out any) error {
	var rd io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(ctx, method, url, rd)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := setupClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %.200s", method, url, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// prepare registers 50 listeners, each with a playlist, and collects album
// and track ids from the catalogue.
func prepare(ctx context.Context, base string) (*fixture, error) {
	fx := &fixture{base: base, genres: []string{"jazz", "rock", "electronic", "classical", "folk"}}
	stamp := time.Now().UnixNano()
	for i := 0; i < 50; i++ {
		email, pw := fmt.Sprintf("bench-%d-%d@example.com", stamp, i), "bench-password-1"
		var tk struct{ AccessToken string }
		if err := call(ctx, http.MethodPost, base+"/auth/register", "", map[string]any{"email": email, "password": pw, "displayName": "Bench"}, &tk); err != nil {
			return nil, err
		}
		var p struct{ ID string }
		if err := call(ctx, http.MethodPost, base+"/playlists", tk.AccessToken, map[string]any{"name": "bench"}, &p); err != nil {
			return nil, err
		}
		fx.users = append(fx.users, [2]string{email, pw})
		fx.tokens = append(fx.tokens, tk.AccessToken)
		fx.playlists = append(fx.playlists, p.ID)
	}
	var page struct {
		Items []struct{ ID, Title string }
	}
	if err := call(ctx, http.MethodGet, base+"/albums?limit=100", fx.tokens[0], nil, &page); err != nil {
		return nil, err
	}
	for _, a := range page.Items {
		fx.albums = append(fx.albums, a.ID)
		fx.names = append(fx.names, a.Title)
	}
	var artists struct {
		Items []struct{ Name string }
	}
	if err := call(ctx, http.MethodGet, base+"/artists?limit=100", fx.tokens[0], nil, &artists); err != nil {
		return nil, err
	}
	for _, a := range artists.Items {
		fx.names = append(fx.names, a.Name)
	}
	for _, id := range fx.albums[:min(20, len(fx.albums))] {
		var al struct {
			Tracks []struct {
				ID    string
				Audio *struct{ Size int }
			}
		}
		if err := call(ctx, http.MethodGet, base+"/albums/"+id, fx.tokens[0], nil, &al); err != nil {
			return nil, err
		}
		for _, t := range al.Tracks {
			if t.Audio != nil {
				fx.tracks = append(fx.tracks, t.ID)
			}
		}
	}
	if len(fx.albums) == 0 {
		return nil, fmt.Errorf("the catalogue is empty")
	}
	return fx, nil
}

// mix is a listener's day by weight: browse 40, album 20, stream a range 20,
// playlist edit 10, profile 10.
func (fx *fixture) mix(ctx context.Context, c *http.Client, i int) int {
	u := i % len(fx.tokens)
	tok := fx.tokens[u]
	switch w := (i * 37) % 100; {
	case w < 40:
		return get(ctx, c, fx.base+"/albums?sort=new&limit=20&genre="+fx.genres[i%len(fx.genres)], tok, "")
	case w < 60:
		return get(ctx, c, fx.base+"/albums/"+fx.albums[i%len(fx.albums)], tok, "")
	case w < 80:
		if len(fx.tracks) == 0 {
			return get(ctx, c, fx.base+"/albums/"+fx.albums[i%len(fx.albums)], tok, "")
		}
		return get(ctx, c, fx.base+"/tracks/"+fx.tracks[i%len(fx.tracks)]+"/stream", tok, "bytes=4096-20479")
	case w < 90:
		if len(fx.tracks) == 0 {
			return get(ctx, c, fx.base+"/me", tok, "")
		}
		return send(ctx, c, http.MethodPost, fx.base+"/playlists/"+fx.playlists[u]+"/tracks", tok,
			map[string]string{"trackId": fx.tracks[i%len(fx.tracks)]}, nil)
	default:
		return get(ctx, c, fx.base+"/me", tok, "")
	}
}

// buyers each have a card and no subscription yet (one open subscription per user).
type buyers struct {
	base    string
	tokens  []string
	cards   []string
	stamp   int64
	mu      sync.Mutex
	started []started
}

func prepareBuyers(ctx context.Context, base string, n int) (*buyers, error) {
	b := &buyers{base: base, tokens: make([]string, n), cards: make([]string, n), stamp: time.Now().UnixNano()}
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem }()
			var tk struct{ AccessToken string }
			email := fmt.Sprintf("buyer-%d-%d@example.com", b.stamp, i)
			if err := call(ctx, http.MethodPost, base+"/auth/register", "", map[string]any{"email": email, "password": "bench-password-1", "displayName": "Buyer"}, &tk); err != nil {
				errs <- err
				return
			}
			var pm struct{ ID string }
			if err := call(ctx, http.MethodPost, base+"/me/payment-methods", tk.AccessToken, map[string]any{"cardNumber": "4242424242424242",
				"expMonth": 12, "expYear": time.Now().Year() + 3, "cvc": "123", "holderName": "Buyer"}, &pm); err != nil {
				errs <- err
				return
			}
			b.tokens[i], b.cards[i] = tk.AccessToken, pm.ID
			errs <- nil
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			return nil, err
		}
	}
	return b, nil
}

// checkout starts a purchase; completion is measured afterwards (settle),
// so the measurement adds no polling load while the saga runs.
func (b *buyers) checkout(ctx context.Context, c *http.Client, i int) int {
	tok := b.tokens[i%len(b.tokens)]
	body, _ := json.Marshal(map[string]string{"planId": "individual", "paymentMethodId": b.cards[i%len(b.cards)]})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.base+"/subscriptions", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Idempotency-Key", fmt.Sprintf("bench-%d-%d", b.stamp, i))
	sent := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	var s struct{ ID string }
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_ = json.Unmarshal(raw, &s)
	b.mu.Lock()
	b.started = append(b.started, started{i: i, id: s.ID, sent: sent, status: resp.StatusCode})
	b.mu.Unlock()
	if resp.StatusCode != http.StatusAccepted {
		firstCheckoutError.Do(func() { fmt.Fprintf(os.Stderr, "first refused checkout: %d %.300s\n", resp.StatusCode, raw) })
	}
	return resp.StatusCode
}

var firstCheckoutError sync.Once

type started struct {
	i      int
	id     string
	sent   time.Time
	status int
}

// settle waits for every measured checkout to finish and returns the
// completion latencies (activation time minus send time, in ms), the number
// that ended otherwise, and the completion rate over the run.
func (b *buyers) settle(ctx context.Context, warm int) (lat []float64, failed map[string]int, rate float64) {
	failed = map[string]int{}
	var first, last time.Time
	for _, st := range b.started {
		if st.i < warm {
			continue
		}
		if st.status != http.StatusAccepted {
			failed[fmt.Sprint(st.status)]++
			continue
		}
		tok := b.tokens[st.i%len(b.tokens)]
		var s struct {
			Status      string
			PeriodStart *time.Time
		}
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if err := call(ctx, http.MethodGet, b.base+"/subscriptions/"+st.id, tok, nil, &s); err == nil && s.Status != "pending" {
				break
			}
		}
		if s.Status != "active" || s.PeriodStart == nil {
			failed[s.Status]++
			continue
		}
		lat = append(lat, float64(s.PeriodStart.Sub(st.sent).Microseconds())/1000)
		if first.IsZero() || st.sent.Before(first) {
			first = st.sent
		}
		if s.PeriodStart.After(last) {
			last = *s.PeriodStart
		}
	}
	if len(lat) > 0 && last.After(first) {
		rate = float64(len(lat)) / last.Sub(first).Seconds()
	}
	return lat, failed, rate
}

// prefix is the i-th as-you-type prefix: a catalogue name cut after 1 to
// all of its characters.
func (fx *fixture) prefix(i int) string {
	name := []rune(fx.names[i%len(fx.names)])
	return string(name[:1+(i*7)%len(name)])
}

// suggest asks for completions of a prefix, as a search box does on every keystroke.
func (fx *fixture) suggest(ctx context.Context, c *http.Client, i int) int {
	return get(ctx, c, fx.base+"/search/suggest?q="+url.QueryEscape(fx.prefix(i)), fx.tokens[i%len(fx.tokens)], "")
}

// search runs a full search: a name's words with the last one cut short,
// every fifth with a typo, every tenth with facets.
func (fx *fixture) search(ctx context.Context, c *http.Client, i int) int {
	words := strings.Fields(fx.names[i%len(fx.names)])
	if last := []rune(words[len(words)-1]); len(last) > 3 {
		words[len(words)-1] = string(last[:3+(i%(len(last)-2))])
	}
	if w := []rune(words[0]); i%5 == 0 && len(w) >= 5 {
		w[1] = 'x'
		words[0] = string(w)
	}
	u := fx.base + "/search?q=" + url.QueryEscape(strings.Join(words, " "))
	if i%10 == 0 {
		u += "&facets=true"
	}
	return get(ctx, c, u, fx.tokens[i%len(fx.tokens)], "")
}
