package devstack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/harmonia-music/harmonia/internal/synth"
)

// Catalogue sizes the launcher can seed.
const (
	CatalogNone  = "none"
	CatalogDemo  = "demo"  // 40 artists, 120 albums, 1,200 tracks with audio
	CatalogLarge = "large" // 100,000 tracks, metadata only, for benchmarks
)

var seedNS = uuid.MustParse("6f1c6a52-51b4-4c1e-9d38-6b1f2a3e9a10")

func seedID(kind string, n ...int) string {
	return uuid.NewSHA1(seedNS, fmt.Appendf(nil, "%s%v", kind, n)).String()
}

var (
	genres     = []string{"jazz", "rock", "electronic", "classical", "hip-hop", "folk", "ambient", "soul", "metal", "pop"}
	adjectives = []string{"Velvet", "Electric", "Silent", "Golden", "Midnight", "Crimson", "Paper", "Northern", "Hollow", "Lunar",
		"Copper", "Wild", "Café", "Distant", "Neon", "Quiet", "Iron", "Blue", "Amber", "Restless"}
	nouns = []string{"Harbour", "Engines", "Orchard", "Foxes", "Tides", "Atlas", "Lanterns", "Ravens", "Canyon", "Satellites",
		"Meadows", "Circuits", "Rivers", "Pilots", "Échos", "Gardens", "Signals", "Wolves", "Comets", "Bells"}
	words = []string{"Morning", "Light", "Run", "Home", "Static", "Fall", "Dream", "Fire", "Water", "Road", "Stone", "Sky",
		"Heart", "Shadow", "Dance", "Rain", "Night", "Gold", "Ghost", "Summer"}
)

type importArtist struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Genres []string `json:"genres"`
}

type importTrack struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	TrackNumber int    `json:"trackNumber"`
}

type importAlbum struct {
	ID          string        `json:"id"`
	ArtistID    string        `json:"artistId"`
	Title       string        `json:"title"`
	Genre       string        `json:"genre"`
	ReleaseDate string        `json:"releaseDate"`
	Published   bool          `json:"published"`
	Tracks      []importTrack `json:"tracks"`
}

type importBatch struct {
	Artists []importArtist `json:"artists"`
	Albums  []importAlbum  `json:"albums"`
}

// catalogueBatch makes artist a's batch: albumsPer albums of tracksPer tracks.
func catalogueBatch(a, albumsPer, tracksPer int, published bool) importBatch {
	g := genres[a%len(genres)]
	artist := importArtist{ID: seedID("artist", a), Name: fmt.Sprintf("The %s %s", adjectives[a%20], nouns[(a/20+a*7)%20]),
		Genres: []string{g}}
	if a >= 400 { // the large catalogue needs more distinct names
		artist.Name = fmt.Sprintf("%s %d", artist.Name, a)
	}
	b := importBatch{Artists: []importArtist{artist}}
	for al := 0; al < albumsPer; al++ {
		n := a*albumsPer + al
		album := importAlbum{ID: seedID("album", a, al), ArtistID: artist.ID, Genre: g, Published: published,
			Title:       fmt.Sprintf("%s %s", words[n%20], words[(n*3+1)%20]),
			ReleaseDate: fmt.Sprintf("%d-%02d-%02d", 1965+(n*7)%61, 1+n%12, 1+n%28)}
		for t := 0; t < tracksPer; t++ {
			album.Tracks = append(album.Tracks, importTrack{ID: seedID("track", a, al, t), TrackNumber: t + 1,
				Title: fmt.Sprintf("%s %s", words[(n+t*5)%20], words[(n*11+t)%20])})
		}
		b.Albums = append(b.Albums, album)
	}
	return b
}

// client talks to the gateway as one signed-in user.
type client struct {
	base, token string
	progress    func(format string, args ...any) // says why a wait is long; may be nil
}

// maxSeedWait is the longest Retry-After the seeding waits out; a longer one
// (a sign-in lockout) ends the seeding with the wait in the message.
const maxSeedWait = 30 * time.Second

// do sends one request, waiting and retrying when the gateway's rate limit
// answers 429 with a short Retry-After (as any well-behaved client does).
// A 401 is never retried.
func (c client) do(ctx context.Context, method, path, ctype string, body []byte, out any) (int, error) {
	for attempt := 0; ; attempt++ {
		status, retryAfter, err := c.once(ctx, method, path, ctype, body, out)
		if status != http.StatusTooManyRequests || attempt >= 50 {
			return status, err
		}
		if retryAfter > maxSeedWait {
			return status, fmt.Errorf("%w: %s %s is throttled for %s; try again then", errThrottled, method, path, retryAfter)
		}
		if c.progress != nil && retryAfter >= 2*time.Second {
			c.progress("rate-limited; waiting %s before %s %s", retryAfter, method, path)
		}
		select {
		case <-ctx.Done():
			return status, ctx.Err()
		case <-time.After(retryAfter):
		}
	}
}

func (c client) once(ctx context.Context, method, path, ctype string, body []byte, out any) (int, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := seedHTTP.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	wait := 200 * time.Millisecond
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		wait = time.Duration(secs) * time.Second
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, wait, fmt.Errorf("%s %s answered %d: %.300s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return resp.StatusCode, 0, json.Unmarshal(b, out)
	}
	return resp.StatusCode, 0, nil
}

func (c client) json(ctx context.Context, method, path string, in, out any) (int, error) {
	var body []byte
	if in != nil {
		body, _ = json.Marshal(in)
	}
	return c.do(ctx, method, path, "application/json", body, out)
}

var seedHTTP = &http.Client{Timeout: 60 * time.Second}

var errThrottled = errors.New("throttled")

func signIn(ctx context.Context, base, email, password string) (client, error) {
	var tk struct {
		AccessToken string `json:"accessToken"`
	}
	c := client{base: base}
	status, err := c.json(ctx, http.MethodPost, "/api/v1/auth/login", map[string]string{"email": email, "password": password}, &tk)
	if status == http.StatusUnauthorized {
		return c, errBadPassword
	}
	if err != nil {
		return c, err
	}
	c.token = tk.AccessToken
	return c, nil
}

var errBadPassword = errors.New("wrong password")

// seedCatalogue loads the catalogue through the public API as the admin.
// Importing is an upsert by fixed ids and uploads are skipped when the track
// already has the same audio, so it runs again safely and resumes after a
// crash.
func (s *Stack) seedCatalogue(ctx context.Context, size string) error {
	if size == CatalogNone || size == "" || s.info.GatewayURL == "" {
		return nil
	}
	start := time.Now()
	pw := AdminDefaultPassword
	if v, ok := os.LookupEnv("HARMONIA_ADMIN_PASSWORD"); ok && v != "" {
		pw = v
	}
	// auth is ready only once its administrator exists, so one refusal is
	// final: retrying a wrong password would lock the account and the address
	admin, err := signIn(ctx, s.info.GatewayURL, AdminEmail, pw)
	switch {
	case errors.Is(err, errBadPassword):
		return fmt.Errorf("the administrator of %s has another password than this HARMONIA_ADMIN_PASSWORD "+
			"(unset means %q): set the one this data directory was created with, or run 'make clean' to start with a new one",
			s.opts.DataDir, AdminDefaultPassword)
	case errors.Is(err, errThrottled):
		return fmt.Errorf("admin sign-in: %w (earlier wrong passwords locked it)", err)
	case err != nil:
		return fmt.Errorf("admin sign-in: %w", err)
	}
	admin.progress = s.logf
	if size == CatalogLarge {
		for a := 0; a < 1000; a += 10 {
			var b importBatch
			for i := a; i < a+10; i++ {
				part := catalogueBatch(i, 10, 10, true)
				b.Artists = append(b.Artists, part.Artists...)
				b.Albums = append(b.Albums, part.Albums...)
			}
			if err := importIdempotent(ctx, admin, b); err != nil {
				return err
			}
		}
		s.logf("seed catalogue (large): 1000 artists, 10000 albums, 100000 tracks (metadata only) in %s", time.Since(start).Round(100*time.Millisecond))
		return nil
	}
	const artists, albumsPer, tracksPer = 40, 3, 10
	var uploaded, mu = 0, sync.Mutex{}
	sem := make(chan struct{}, 4)
	errs := make(chan error, artists)
	var wg sync.WaitGroup
	for a := 0; a < artists; a++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(a int) {
			defer wg.Done()
			defer func() { <-sem }()
			n, err := seedArtist(ctx, admin, catalogueBatch(a, albumsPer, tracksPer, false), a)
			mu.Lock()
			uploaded += n
			mu.Unlock()
			if err != nil {
				errs <- err
			}
		}(a)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	if err := seedPlaylists(ctx, s.info.GatewayURL); err != nil {
		return err
	}
	s.logf("seed catalogue: %d artists, %d albums, %d tracks (%d audio files uploaded now) in %s", artists, artists*albumsPer,
		artists*albumsPer*tracksPer, uploaded, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// onConflictAgain sends an idempotent request (an import by fixed ids, a
// publish) again when albums answers 409: every import and publish rewrites
// the one catalogue index, so seeders working in parallel can outlast albums'
// own conflict retries on a busy machine.
func onConflictAgain(ctx context.Context, send func() (int, error)) error {
	for attempt := 1; ; attempt++ {
		status, err := send()
		if status != http.StatusConflict || attempt == 5 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
		}
	}
}

func importIdempotent(ctx context.Context, admin client, b importBatch) error {
	return onConflictAgain(ctx, func() (int, error) {
		return admin.json(ctx, http.MethodPost, "/api/v1/admin/catalog/import", b, nil)
	})
}

func seedArtist(ctx context.Context, admin client, b importBatch, a int) (int, error) {
	if err := importIdempotent(ctx, admin, b); err != nil {
		return 0, err
	}
	uploaded := 0
	for al, album := range b.Albums {
		var view struct {
			Status string `json:"status"`
			Tracks []struct {
				ID    string `json:"id"`
				Audio *struct {
					SHA256 string `json:"sha256"`
				} `json:"audio"`
			} `json:"tracks"`
		}
		if _, err := admin.json(ctx, http.MethodGet, "/api/v1/albums/"+album.ID, nil, &view); err != nil {
			return uploaded, err
		}
		for t, tr := range view.Tracks {
			wav := synth.WAV(uint64(a*1000+al*100+t), 3+float64((a+al+t)%4), 8000)
			sum := sha256.Sum256(wav)
			if tr.Audio != nil && tr.Audio.SHA256 == hex.EncodeToString(sum[:]) {
				continue
			}
			if _, err := admin.do(ctx, http.MethodPut, "/api/v1/tracks/"+tr.ID+"/audio", "audio/wav", wav, nil); err != nil {
				return uploaded, err
			}
			uploaded++
		}
		if view.Status != "published" {
			if err := onConflictAgain(ctx, func() (int, error) {
				return admin.json(ctx, http.MethodPost, "/api/v1/albums/"+album.ID+"/publish", nil, nil)
			}); err != nil {
				return uploaded, err
			}
		}
	}
	return uploaded, nil
}

// seedPlaylists gives the demo listener a few public playlists (once).
func seedPlaylists(ctx context.Context, base string) error {
	c, err := signIn(ctx, base, DemoListener.Email, DemoListener.Password)
	if err != nil {
		return nil // no demo listener (seeding of accounts is off)
	}
	var mine struct {
		Items []struct {
			Name string `json:"name"`
		} `json:"items"`
	}
	if _, err := c.json(ctx, http.MethodGet, "/api/v1/me/playlists?limit=100", nil, &mine); err != nil {
		return err
	}
	have := map[string]bool{}
	for _, p := range mine.Items {
		have[p.Name] = true
	}
	for i, name := range []string{"Morning Jazz", "Late Night Electronic", "Folk Roads", "Heavy Rotation"} {
		if have[name] {
			continue
		}
		var p struct {
			ID string `json:"id"`
		}
		if _, err := c.json(ctx, http.MethodPost, "/api/v1/playlists", map[string]any{"name": name, "public": true,
			"description": "Picked from the seed catalogue"}, &p); err != nil {
			return err
		}
		for t := 0; t < 8; t++ {
			a := (i*3 + t*5) % 40
			tid := seedID("track", a, t%3, t)
			if _, err := c.json(ctx, http.MethodPost, "/api/v1/playlists/"+p.ID+"/tracks", map[string]string{"trackId": tid}, nil); err != nil {
				return err
			}
		}
	}
	return nil
}
