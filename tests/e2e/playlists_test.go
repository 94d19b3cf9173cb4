package e2e

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/internal/synth"
)

type playlist struct {
	ID      string `json:"id"`
	OwnerID string `json:"ownerId"`
	Public  bool   `json:"public"`
	Version int    `json:"version"`
	Entries []struct {
		ID      string `json:"id"`
		TrackID string `json:"trackId"`
	} `json:"entries"`
}

func publishedTracks(t *testing.T, n int) []string {
	t.Helper()
	artist, artistID := artistSetup(t)
	albumID := createAlbum(t, artist.AccessToken, artistID, "folk", "2023-03-03")
	var ids []string
	for i := 1; i <= n; i++ {
		ids = append(ids, addTrack(t, artist.AccessToken, albumID, i, synth.WAV(uint64(200+i), 2, 8000)))
	}
	expect(t, do(t, "POST", gw+"/albums/"+albumID+"/publish", artist.AccessToken, nil), 200)
	return ids
}

func TestPlaylistLifecycleAndConcurrentEdits(t *testing.T) {
	tracks := publishedTracks(t, 4)
	owner := newAccount(t)
	r := do(t, "POST", gw+"/playlists", owner.AccessToken, map[string]any{"name": "Road trip"})
	expect(t, r, 201)
	var p playlist
	r.json(t, &p)
	if p.Public || r.Header.Get("ETag") != `"v1"` || !strings.HasSuffix(r.Header.Get("Location"), p.ID) {
		t.Fatalf("created: %s %v", r.Body, r.Header)
	}
	base := gw + "/playlists/" + p.ID
	r = do(t, "POST", base+"/tracks", owner.AccessToken, map[string]any{"trackId": tracks[0]}, "If-Match", `"v1"`)
	expect(t, r, 200)
	etag := r.Header.Get("ETag")

	// two clients edit from the same version: one wins, the other gets 412
	results := make([]response, 2)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = do(t, "POST", base+"/tracks", owner.AccessToken, map[string]any{"trackId": tracks[1+i]}, "If-Match", etag)
		}(i)
	}
	wg.Wait()
	won, lost := -1, -1
	for i, res := range results {
		switch res.Status {
		case 200:
			won = i
		case 412:
			lost = i
			expectProblem(t, res, 412, "")
		}
	}
	if won < 0 || lost < 0 {
		t.Fatalf("statuses %d and %d, want one 200 and one 412", results[0].Status, results[1].Status)
	}
	// the loser reads again and retries; nothing is lost
	r = do(t, "GET", base, owner.AccessToken, nil)
	expect(t, do(t, "POST", base+"/tracks", owner.AccessToken, map[string]any{"trackId": tracks[1+lost]}, "If-Match", r.Header.Get("ETag")), 200)
	r = do(t, "GET", base, owner.AccessToken, nil)
	r.json(t, &p)
	got := map[string]bool{}
	for _, e := range p.Entries {
		got[e.TrackID] = true
	}
	if len(p.Entries) != 3 || !got[tracks[0]] || !got[tracks[1]] || !got[tracks[2]] {
		t.Fatalf("entries after concurrent edits: %+v", p.Entries)
	}

	// insert at a position, reorder, remove
	r = do(t, "POST", base+"/tracks", owner.AccessToken, map[string]any{"trackId": tracks[3], "position": 0})
	r.json(t, &p)
	if p.Entries[0].TrackID != tracks[3] {
		t.Fatalf("position 0: %+v", p.Entries)
	}
	ids := []string{p.Entries[3].ID, p.Entries[2].ID, p.Entries[1].ID, p.Entries[0].ID}
	r = do(t, "PUT", base+"/order", owner.AccessToken, map[string]any{"entryIds": ids})
	expect(t, r, 200)
	r.json(t, &p)
	if p.Entries[0].ID != ids[0] || p.Entries[3].ID != ids[3] {
		t.Fatalf("order: %+v", p.Entries)
	}
	expectProblem(t, do(t, "PUT", base+"/order", owner.AccessToken, map[string]any{"entryIds": ids[:3]}), 400, "entryIds")
	expect(t, do(t, "DELETE", base+"/tracks/"+ids[0], owner.AccessToken, nil), 200)
	expectProblem(t, do(t, "DELETE", base+"/tracks/"+ids[0], owner.AccessToken, nil), 404, "")
	expectProblem(t, do(t, "POST", base+"/tracks", owner.AccessToken, map[string]any{"trackId": "not-an-id"}), 400, "trackId")
	expectProblem(t, do(t, "POST", base+"/tracks", owner.AccessToken, map[string]any{"trackId": "01930000-0000-7000-8000-00000000dead"}), 400, "trackId")
	expectProblem(t, do(t, "POST", gw+"/playlists", owner.AccessToken, map[string]any{"name": ""}), 400, "name")

	var mine struct{ Items []playlist }
	do(t, "GET", gw+"/me/playlists", owner.AccessToken, nil).json(t, &mine)
	if len(mine.Items) != 1 || mine.Items[0].ID != p.ID {
		t.Fatalf("my playlists: %+v", mine.Items)
	}
	expect(t, do(t, "DELETE", base, owner.AccessToken, nil, "If-Match", `"v1"`), 412)
	expect(t, do(t, "DELETE", base, owner.AccessToken, nil), 204)
	expectProblem(t, do(t, "GET", base, owner.AccessToken, nil), 404, "")
}

func TestOthersCannotReadPrivateOrChangePublicPlaylists(t *testing.T) {
	tracks := publishedTracks(t, 1)
	owner, other := newAccount(t), newAccount(t)
	var p playlist
	do(t, "POST", gw+"/playlists", owner.AccessToken, map[string]any{"name": "Secret"}).json(t, &p)
	base := gw + "/playlists/" + p.ID
	expectProblem(t, do(t, "GET", base, other.AccessToken, nil), 404, "")
	expectProblem(t, do(t, "PATCH", base, other.AccessToken, map[string]any{"name": "Mine now"}), 404, "")
	expectProblem(t, do(t, "DELETE", base, other.AccessToken, nil), 404, "")

	expect(t, do(t, "PATCH", base, owner.AccessToken, map[string]any{"public": true}), 200)
	expect(t, do(t, "GET", base, other.AccessToken, nil), 200)
	expectProblem(t, do(t, "PATCH", base, other.AccessToken, map[string]any{"name": "Mine now"}), 403, "")
	expectProblem(t, do(t, "POST", base+"/tracks", other.AccessToken, map[string]any{"trackId": tracks[0]}), 403, "")
	expectProblem(t, do(t, "DELETE", base, other.AccessToken, nil), 403, "")
	r := do(t, "GET", base, other.AccessToken, nil)
	r.json(t, &p)
	if p.Version != 2 || len(p.Entries) != 0 {
		t.Fatalf("refused changes changed the playlist: %s", r.Body)
	}

	// deleting the owner's account removes their playlists (user.deleted)
	expect(t, do(t, "DELETE", gw+"/me", owner.AccessToken, nil), 204)
	deadline := time.Now().Add(30 * time.Second)
	for do(t, "GET", base, other.AccessToken, nil).Status != 404 {
		if time.Now().After(deadline) {
			t.Fatal("a deleted user's playlist is still there")
		}
		time.Sleep(300 * time.Millisecond)
	}
}
