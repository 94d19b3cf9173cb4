package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/internal/synth"
)

type searchItem struct {
	ID, Type, Title, Name, ArtistName, AlbumTitle string
}

type searchAnswer struct {
	Top       *searchItem
	Tracks    *struct{ Items []searchItem }
	Albums    *struct{ Items []searchItem }
	Artists   *struct{ Items []searchItem }
	Playlists *struct{ Items []searchItem }
}

func (a searchAnswer) all() []searchItem {
	var out []searchItem
	for _, g := range []*struct{ Items []searchItem }{a.Tracks, a.Albums, a.Artists, a.Playlists} {
		if g != nil {
			out = append(out, g.Items...)
		}
	}
	return out
}

func (a searchAnswer) has(id string) bool {
	for _, it := range a.all() {
		if it.ID == id {
			return true
		}
	}
	return false
}

func search(t *testing.T, tok, q, types string) (searchAnswer, response) {
	t.Helper()
	u := gw + "/search?q=" + url.QueryEscape(q)
	if types != "" {
		u += "&type=" + types
	}
	r := do(t, "GET", u, tok, nil)
	var a searchAnswer
	if r.Status == 200 {
		r.json(t, &a)
	}
	return a, r
}

// eventually searches until found(answer) or the wait ends; it returns how
// long it took.
func eventually(t *testing.T, tok, q, types string, wait time.Duration, found func(searchAnswer) bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		a, r := search(t, tok, q, types)
		if r.Status == 200 && found(a) {
			return time.Since(start)
		}
		if time.Since(start) > wait {
			t.Fatalf("search %q (%s): not found after %s: %d %s", q, types, wait, r.Status, r.Body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// seedArtist finds a seed artist whose name holds word.
func seedArtist(t *testing.T, tok, word string) (id, name string) {
	t.Helper()
	var page struct {
		Items []struct{ ID, Name string }
	}
	do(t, "GET", gw+"/artists?limit=100", tok, nil).json(t, &page)
	for _, a := range page.Items {
		if strings.Contains(a.Name, word) {
			return a.ID, a.Name
		}
	}
	t.Fatalf("no seed artist with %q", word)
	return "", ""
}

func TestSearchFindsTheSeedCatalogue(t *testing.T) {
	a := newAccount(t)
	tok := a.AccessToken
	cafeID, cafe := seedArtist(t, tok, "Café")    // "The Café <noun>"
	noun := strings.Fields(cafe)[2]               // e.g. Foxes
	echosID, echos := seedArtist(t, tok, "Échos") // "The <adjective> Échos"
	typo := []rune(noun)
	typo[1] = 'x' // one letter wrong
	for _, c := range []struct{ q, types, want, why string }{
		{"cafe " + strings.ToLower(noun), "artist", cafeID, "accents folded"},
		{"the caf", "artist", cafeID, "prefix on the last word"},
		{strings.ToLower(noun) + " café", "artist", cafeID, "words in any order"},
		{"cafe " + string(typo), "artist", cafeID, "one typo forgiven"},
		{"echos", "artist", echosID, "accents folded (" + echos + ")"},
	} {
		if len([]rune(noun)) < 5 && c.why == "one typo forgiven" {
			continue // a typo is forgiven from 5 letters
		}
		eventually(t, tok, c.q, c.types, 30*time.Second, func(s searchAnswer) bool { return s.has(c.want) })
	}
	// an album by two words of its title, reversed, and by its artist
	var albums struct {
		Items []struct{ ID, Title, ArtistID string }
	}
	do(t, "GET", gw+"/albums?artistId="+cafeID+"&limit=5", tok, nil).json(t, &albums)
	if len(albums.Items) == 0 {
		t.Fatal("the seed artist has no albums")
	}
	al := albums.Items[0]
	w := strings.Fields(al.Title)
	eventually(t, tok, w[1]+" "+w[0]+" cafe", "album", 30*time.Second, func(s searchAnswer) bool { return s.has(al.ID) })
	// only the groups asked for
	s, _ := search(t, tok, "cafe", "artist")
	if s.Tracks != nil || s.Albums != nil || s.Playlists != nil || s.Artists == nil {
		t.Fatalf("groups not asked for are in the answer: %+v", s)
	}
	// suggestions as you type
	var sug struct {
		Items []struct{ Text, Type, ID string }
	}
	do(t, "GET", gw+"/search/suggest?q="+url.QueryEscape("the caf"), tok, nil).json(t, &sug)
	if len(sug.Items) == 0 || len(sug.Items) > 10 || !strings.HasPrefix(sug.Items[0].Text, "The Café") {
		t.Fatalf("suggest: %+v", sug.Items)
	}
}

func TestSearchRejectsBadInput(t *testing.T) {
	tok := newAccount(t).AccessToken
	expectProblem(t, do(t, "GET", gw+"/search?q=", tok, nil), 400, "q")
	expectProblem(t, do(t, "GET", gw+"/search?q="+strings.Repeat("a", 201), tok, nil), 400, "q")
	p := expectProblem(t, do(t, "GET", gw+"/search?q=x&type=track,song", tok, nil), 400, "type")
	if !strings.Contains(fmt.Sprint(p.Errors), "song") {
		t.Fatalf("the problem does not name the unknown type: %+v", p)
	}
	expectProblem(t, do(t, "GET", gw+"/search?q=x&limit=0", tok, nil), 400, "limit")
	expectProblem(t, do(t, "GET", gw+"/search?q=x&limit=51", tok, nil), 400, "limit")
	expectProblem(t, do(t, "GET", gw+"/search?q=x&cursor=abc", tok, nil), 400, "cursor")
	expectProblem(t, do(t, "GET", gw+"/search/suggest?q=", tok, nil), 400, "q")
	expectProblem(t, do(t, "GET", gw+"/search/suggest?q=a&limit=11", tok, nil), 400, "limit")
	expectProblem(t, do(t, "GET", gw+"/search?q=x", "", nil), 401, "")
	expectProblem(t, do(t, "POST", gw+"/admin/search/reindex", tok, nil), 403, "")
}

// publishAlbum publishes a fresh album titled title (one track with audio)
// and returns its id and its track's.
func publishAlbum(t *testing.T, title string) (albumID, trackID string) {
	t.Helper()
	artist, artistID := artistSetup(t)
	r := do(t, "POST", gw+"/albums", artist.AccessToken, map[string]any{"artistId": artistID, "title": title, "genre": "folk", "releaseDate": "2024-02-02"})
	expect(t, r, 201)
	var al struct{ ID string }
	r.json(t, &al)
	trackID = addTrack(t, artist.AccessToken, al.ID, 1, synth.WAV(77, 2, 8000))
	expect(t, do(t, "POST", gw+"/albums/"+al.ID+"/publish", artist.AccessToken, nil), 200)
	return al.ID, trackID
}

func TestPublishedAlbumIsFoundAndPrivatePlaylistsNeverAre(t *testing.T) {
	a := newAccount(t)
	word := "Zephyrine" + randomHex(3)
	albumID, trackID := publishAlbum(t, word+" Sessions")
	took := eventually(t, a.AccessToken, strings.ToLower(word)+" sess", "album", 10*time.Second, func(s searchAnswer) bool { return s.has(albumID) })
	t.Logf("a published album was found %s after the publish answered", took.Round(time.Millisecond))
	eventually(t, a.AccessToken, strings.ToLower(word), "track", 10*time.Second, func(s searchAnswer) bool { return s.has(trackID) })

	secret := "Clandestine" + randomHex(3)
	r := do(t, "POST", gw+"/playlists", a.AccessToken, map[string]any{"name": secret + " mix", "public": false})
	expect(t, r, 201)
	var pl struct{ ID string }
	r.json(t, &pl)
	open := "Openair" + randomHex(3)
	r = do(t, "POST", gw+"/playlists", a.AccessToken, map[string]any{"name": open + " mix", "public": true})
	expect(t, r, 201)
	var pub struct{ ID string }
	r.json(t, &pub)
	// the public one is found: the private one, created first, was indexed by now too
	eventually(t, a.AccessToken, strings.ToLower(open), "playlist", 10*time.Second, func(s searchAnswer) bool { return s.has(pub.ID) })
	other := newAccount(t)
	for _, tok := range []string{a.AccessToken, other.AccessToken} {
		if s, _ := search(t, tok, strings.ToLower(secret), ""); s.has(pl.ID) {
			t.Fatal("a private playlist was found")
		}
	}
	expect(t, do(t, "PATCH", gw+"/playlists/"+pub.ID, a.AccessToken, map[string]any{"public": false}), 200)
	eventually(t, other.AccessToken, strings.ToLower(open), "playlist", 10*time.Second, func(s searchAnswer) bool { return !s.has(pub.ID) })
}

// reloadStack reads the launcher's stack.json again (pids change on restarts).
func reloadStack(t *testing.T) {
	t.Helper()
	for range 50 {
		b, err := os.ReadFile(filepath.Join(stack.DataDir, "run", "stack.json"))
		if err == nil && json.Unmarshal(b, &stack) == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("stack.json unreadable")
}

func searchPIDs(t *testing.T) (app, sidecar int) {
	t.Helper()
	reloadStack(t)
	for _, a := range stack.Apps {
		if a.AppID == "search" {
			return a.AppPID, a.SidecarPID
		}
	}
	t.Fatal("search is not in the stack")
	return 0, 0
}

// searchIsDown: search answers 503 problem+json with Retry-After, and the
// rest of the product works: sign-in, an album page, streaming a track from
// a playlist, a playlist edit, a checkout.
func searchIsDown(t *testing.T, how string, listener account, track string) {
	t.Helper()
	start := time.Now()
	r := do(t, "GET", gw+"/search?q=anything", listener.AccessToken, nil)
	took := time.Since(start)
	p := expectProblem(t, r, 503, "")
	if r.Header.Get("Retry-After") == "" {
		t.Fatalf("%s: 503 without Retry-After: %+v", how, p)
	}
	t.Logf("%s: GET /search answered 503 in %s", how, took.Round(time.Millisecond))
	expect(t, do(t, "GET", gw+"/search/suggest?q=a", listener.AccessToken, nil), 503)

	expect(t, login(t, listener.Email, listener.Password), 200)
	var tr struct{ AlbumID string }
	do(t, "GET", gw+"/tracks/"+track, listener.AccessToken, nil).json(t, &tr)
	expect(t, do(t, "GET", gw+"/albums/"+tr.AlbumID, listener.AccessToken, nil), 200)
	r = do(t, "POST", gw+"/playlists", listener.AccessToken, map[string]any{"name": "while search is " + how})
	expect(t, r, 201)
	var pl struct{ ID string }
	r.json(t, &pl)
	expect(t, do(t, "POST", gw+"/playlists/"+pl.ID+"/tracks", listener.AccessToken, map[string]any{"trackId": track}), 200)
	var full struct {
		Entries []struct{ TrackID string } `json:"entries"`
	}
	do(t, "GET", gw+"/playlists/"+pl.ID, listener.AccessToken, nil).json(t, &full)
	if len(full.Entries) != 1 {
		t.Fatalf("%s: playlist edit: %+v", how, full)
	}
	st := do(t, "GET", gw+"/tracks/"+full.Entries[0].TrackID+"/stream", listener.AccessToken, nil, "Range", "bytes=0-99")
	if st.Status != 206 && st.Status != 200 {
		t.Fatalf("%s: streaming a playlist's track: %d %s", how, st.Status, st.Body)
	}
	if _, s := checkout(t, "4242424242424242", "search-"+how+"-"+randomHex(3)); s.Status != "active" {
		t.Fatalf("%s: checkout: %+v", how, s)
	}
}

func TestSearchDownLeavesTheRestWorkingAndCatchesUp(t *testing.T) {
	listener := newAccount(t)
	_, track := publishAlbum(t, "Fault line "+randomHex(3))

	// Killed: app and sidecar, kill -9, and again each time the launcher
	// restarts them (a crash loop), until the checks are done; then they
	// are left to come back.
	app, sidecar := searchPIDs(t)
	stopKilling := keepKilled(t)
	searchIsDown(t, "killed", listener, track)
	missedWhileDead := "Driftwood" + randomHex(3)
	deadAlbum, _ := publishAlbum(t, missedWhileDead+" Tapes")
	if n := stopKilling(); n < 2 {
		t.Fatalf("killed %d search processes; the test needs app and sidecar dead", n)
	}
	took := eventually(t, listener.AccessToken, strings.ToLower(missedWhileDead), "album", 120*time.Second,
		func(s searchAnswer) bool { return s.has(deadAlbum) })
	t.Logf("after the kill, the album published while search was dead was found %s later (restart included)", took.Round(time.Millisecond))
	if a, s := searchPIDs(t); a == app || s == sidecar {
		t.Fatalf("search was not restarted: app %d→%d, sidecar %d→%d", app, a, sidecar, s)
	}

	// Frozen: SIGSTOP both, then SIGCONT.
	app, sidecar = searchPIDs(t)
	for _, pid := range []int{app, sidecar} {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			_ = syscall.Kill(sidecar, syscall.SIGCONT)
			_ = syscall.Kill(app, syscall.SIGCONT)
		}
	}
	defer thaw()
	searchIsDown(t, "frozen", listener, track)
	missedWhileFrozen := "Hoarfrost" + randomHex(3)
	frozenAlbum, _ := publishAlbum(t, missedWhileFrozen+" Suite")
	thaw()
	took = eventually(t, listener.AccessToken, strings.ToLower(missedWhileFrozen), "album", 60*time.Second,
		func(s searchAnswer) bool { return s.has(frozenAlbum) })
	t.Logf("after the freeze, the album published meanwhile was found %s after SIGCONT", took.Round(time.Millisecond))
}

func TestAdminReindexKeepsAnswering(t *testing.T) {
	admin := adminTokens(t)
	word := "Reindexed" + randomHex(3)
	albumID, _ := publishAlbum(t, word+" Album")
	eventually(t, admin.AccessToken, strings.ToLower(word), "album", 10*time.Second, func(s searchAnswer) bool { return s.has(albumID) })
	r := do(t, "POST", gw+"/admin/search/reindex", admin.AccessToken, nil)
	expect(t, r, 202)
	// searches keep answering during and after the rebuild, and find the album
	for range 20 {
		if s, r := search(t, admin.AccessToken, strings.ToLower(word), "album"); r.Status != 200 || !s.has(albumID) {
			t.Fatalf("during a reindex: %d %s", r.Status, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// keepKilled kills search's app and sidecar (kill -9) now and whenever the
// launcher brings them back, until the returned stop is called; stop
// answers how many processes it killed.
func keepKilled(t *testing.T) (stop func() int) {
	t.Helper()
	done, finished := make(chan struct{}), make(chan int)
	killed := map[int]bool{}
	kill := func() {
		b, err := os.ReadFile(filepath.Join(stack.DataDir, "run", "stack.json"))
		if err != nil {
			return
		}
		var info stackInfo
		if json.Unmarshal(b, &info) != nil {
			return
		}
		for _, a := range info.Apps {
			if a.AppID != "search" {
				continue
			}
			for _, pid := range []int{a.AppPID, a.SidecarPID} {
				if pid > 0 && !killed[pid] && syscall.Kill(pid, syscall.SIGKILL) == nil {
					killed[pid] = true
				}
			}
		}
	}
	kill()
	go func() {
		for {
			select {
			case <-done:
				finished <- len(killed)
				return
			case <-time.After(50 * time.Millisecond):
				kill()
			}
		}
	}()
	return func() int { close(done); return <-finished }
}
