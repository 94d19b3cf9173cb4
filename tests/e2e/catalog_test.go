package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/internal/synth"
)

type albumSummary struct {
	ID, ArtistID, Title, Genre, Status string
}

type page struct {
	Items      []albumSummary `json:"items"`
	NextCursor string         `json:"nextCursor"`
}

type track struct {
	ID    string `json:"id"`
	Audio *struct {
		SHA256     string `json:"sha256"`
		DurationMs int64  `json:"durationMs"`
		Format     string `json:"format"`
	} `json:"audio"`
}

func adminTokens(t *testing.T) tokens {
	t.Helper()
	r := login(t, "admin@harmonia.local", adminPassword)
	expect(t, r, 200)
	var tk tokens
	r.json(t, &tk)
	return tk
}

func TestSeedCatalogueIsThere(t *testing.T) {
	a := newAccount(t)
	artists, albums := 0, 0
	for cur := ""; ; {
		r := do(t, "GET", gw+"/artists?limit=100&cursor="+cur, a.AccessToken, nil)
		expect(t, r, 200)
		var p struct {
			Items      []struct{ ID string }
			NextCursor string
		}
		r.json(t, &p)
		artists += len(p.Items)
		if cur = p.NextCursor; cur == "" {
			break
		}
	}
	for cur := ""; ; {
		r := do(t, "GET", gw+"/albums?limit=100&cursor="+cur, a.AccessToken, nil)
		expect(t, r, 200)
		var p page
		r.json(t, &p)
		for _, al := range p.Items {
			if al.Status == "published" && !strings.HasPrefix(al.Genre, "e2e") {
				albums++
			}
		}
		if cur = p.NextCursor; cur == "" {
			break
		}
	}
	if artists < 40 || albums < 120 {
		t.Fatalf("seed catalogue: %d artists, %d published albums", artists, albums)
	}
	r := login(t, "listener@harmonia.local", "harmonia-listener")
	expect(t, r, 200)
	var demo tokens
	r.json(t, &demo)
	var mine struct {
		Items []struct {
			Public  bool
			Entries []struct{ TrackID string }
		}
	}
	do(t, "GET", gw+"/me/playlists", demo.AccessToken, nil).json(t, &mine)
	if len(mine.Items) < 4 || !mine.Items[0].Public || len(mine.Items[0].Entries) == 0 {
		t.Fatalf("seed playlists: %+v", mine.Items)
	}
	// a seeded track plays, and is a real WAV
	r = do(t, "GET", gw+"/tracks/"+mine.Items[0].Entries[0].TrackID+"/stream", demo.AccessToken, nil)
	expect(t, r, 200)
	if !bytes.HasPrefix(r.Body, []byte("RIFF")) || r.Header.Get("Content-Type") != "audio/wav" {
		t.Fatalf("seed audio: %q %v", r.Body[:12], r.Header)
	}
}

// artistSetup makes an artist account managing a new artist.
func artistSetup(t *testing.T) (account, string) {
	t.Helper()
	admin := adminTokens(t)
	acct := newAccount(t)
	expect(t, do(t, "PUT", gw+"/admin/users/"+acct.UserID+"/roles", admin.AccessToken, map[string]any{"roles": []string{"listener", "artist"}}), 200)
	r := do(t, "POST", gw+"/artists", admin.AccessToken, map[string]any{"name": "E2E Band " + randomHex(3), "genres": []string{"Rock"}, "ownerUserId": acct.UserID})
	expect(t, r, 201)
	var artist struct{ ID string }
	r.json(t, &artist)
	r = login(t, acct.Email, acct.Password) // a token with the new role
	r.json(t, &acct.tokens)
	return acct, artist.ID
}

func createAlbum(t *testing.T, tok, artistID, genre, date string) string {
	t.Helper()
	r := do(t, "POST", gw+"/albums", tok, map[string]any{"artistId": artistID, "title": "Album " + randomHex(3), "genre": genre, "releaseDate": date})
	expect(t, r, 201)
	if r.Header.Get("ETag") != `"v1"` {
		t.Fatalf("new album ETag %q", r.Header.Get("ETag"))
	}
	var al struct{ ID, Status string }
	r.json(t, &al)
	if al.Status != "draft" {
		t.Fatalf("new album is %s", al.Status)
	}
	return al.ID
}

func addTrack(t *testing.T, tok, albumID string, n int, audio []byte) string {
	t.Helper()
	r := do(t, "POST", gw+"/albums/"+albumID+"/tracks", tok, map[string]any{"title": fmt.Sprintf("Song %d", n), "trackNumber": n})
	expect(t, r, 201)
	var tr track
	r.json(t, &tr)
	if audio != nil {
		r = do(t, "PUT", gw+"/tracks/"+tr.ID+"/audio", tok, audio, "Content-Type", "audio/wav")
		expect(t, r, 200)
		r.json(t, &tr)
		if tr.Audio == nil || tr.Audio.Format != "wav" {
			t.Fatalf("audio after upload: %s", r.Body)
		}
	}
	return tr.ID
}

func wavDataSize(b []byte) int { return int(binary.LittleEndian.Uint32(b[40:44])) }

func TestArtistPublishesAndListenerStreams(t *testing.T) {
	artist, artistID := artistSetup(t)
	listener := newAccount(t)
	short := synth.WAV(101, 5, 8000) // shorter than the preview
	long := synth.WAV(102, 40, 8000) // longer than the preview
	albumID := createAlbum(t, artist.AccessToken, artistID, "rock", "2026-01-15")
	shortID := addTrack(t, artist.AccessToken, albumID, 1, short)
	longID := addTrack(t, artist.AccessToken, albumID, 2, long)

	// a draft is invisible to listeners, everywhere
	expectProblem(t, do(t, "GET", gw+"/albums/"+albumID, listener.AccessToken, nil), 404, "")
	expectProblem(t, do(t, "GET", gw+"/tracks/"+shortID, listener.AccessToken, nil), 404, "")
	expectProblem(t, do(t, "GET", gw+"/tracks/"+shortID+"/stream", listener.AccessToken, nil), 404, "")
	var p page
	do(t, "GET", gw+"/albums?artistId="+artistID, listener.AccessToken, nil).json(t, &p)
	if len(p.Items) != 0 {
		t.Fatalf("draft listed to a listener: %+v", p.Items)
	}
	do(t, "GET", gw+"/albums?artistId="+artistID, artist.AccessToken, nil).json(t, &p)
	if len(p.Items) != 1 {
		t.Fatalf("the artist does not see their draft: %+v", p.Items)
	}
	// a listener may not change the artist's catalogue
	expectProblem(t, do(t, "POST", gw+"/albums", listener.AccessToken, map[string]any{"artistId": artistID, "title": "X", "genre": "rock", "releaseDate": "2026-01-01"}), 403, "")
	expectProblem(t, do(t, "POST", gw+"/albums/"+albumID+"/publish", listener.AccessToken, nil), 404, "")

	r := do(t, "POST", gw+"/albums/"+albumID+"/publish", artist.AccessToken, nil)
	expect(t, r, 200)
	expect(t, do(t, "POST", gw+"/albums/"+albumID+"/publish", artist.AccessToken, nil), 200) // no-op
	r = do(t, "GET", gw+"/albums/"+albumID, listener.AccessToken, nil)
	expect(t, r, 200)
	var view struct {
		Status string
		Tracks []track
	}
	r.json(t, &view)
	if view.Status != "published" || len(view.Tracks) != 2 || view.Tracks[0].ID != shortID {
		t.Fatalf("published album: %s", r.Body)
	}
	expectProblem(t, do(t, "POST", gw+"/albums/"+albumID+"/tracks", artist.AccessToken, map[string]any{"title": "late", "trackNumber": 3}), 409, "")

	// several Range requests reassemble the uploaded bytes exactly
	var got []byte
	var etag string
	for _, rg := range []string{"0-999", "1000-40000", "40001-"} {
		r := do(t, "GET", gw+"/tracks/"+shortID+"/stream", listener.AccessToken, nil, "Range", "bytes="+rg)
		expect(t, r, 206)
		if r.Header.Get("Accept-Ranges") != "bytes" || !strings.HasPrefix(r.Header.Get("Content-Range"), "bytes ") || r.Header.Get("X-Harmonia-Preview") != "true" {
			t.Fatalf("range headers: %v", r.Header)
		}
		etag = r.Header.Get("ETag")
		got = append(got, r.Body...)
	}
	if !bytes.Equal(got, short) {
		t.Fatalf("reassembled %d bytes differ from the %d uploaded", len(got), len(short))
	}
	// HEAD through the gateway: a GET's validators and range support, no body
	// (players probe with it; Content-Length does not survive the sidecar hop)
	if r := do(t, "HEAD", gw+"/tracks/"+shortID+"/stream", listener.AccessToken, nil); r.Status != 200 || len(r.Body) != 0 ||
		r.Header.Get("ETag") != etag || r.Header.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("HEAD stream: %d, %d body bytes, headers %v", r.Status, len(r.Body), r.Header)
	}
	// If-Range: a matching validator keeps the range, a stale one gets the whole file
	expect(t, do(t, "GET", gw+"/tracks/"+shortID+"/stream", listener.AccessToken, nil, "Range", "bytes=0-9", "If-Range", etag), 206)
	if r := do(t, "GET", gw+"/tracks/"+shortID+"/stream", listener.AccessToken, nil, "Range", "bytes=0-9", "If-Range", `"stale"`); r.Status != 200 || !bytes.Equal(r.Body, short) {
		t.Fatalf("stale If-Range: %d %d bytes", r.Status, len(r.Body))
	}

	// without a paid plan the long track is a valid preview of the configured
	// length (the suite sets ALBUMS_PREVIEW_LENGTH=20s), and says so...
	r = do(t, "GET", gw+"/tracks/"+longID+"/stream", listener.AccessToken, nil)
	expect(t, r, 200)
	if r.Header.Get("X-Harmonia-Preview") != "true" || r.Header.Get("X-Harmonia-Preview-Seconds") != "20" || len(r.Body) >= len(long) ||
		wavDataSize(r.Body) != 20*8000 || !bytes.Equal(r.Body[44:], long[44:len(r.Body)]) {
		t.Fatalf("preview: %d of %d bytes, headers %v, data size %d", len(r.Body), len(long), r.Header, wavDataSize(r.Body))
	}
	// ...while the artist's own account hears it whole
	r = do(t, "GET", gw+"/tracks/"+longID+"/stream", artist.AccessToken, nil)
	if r.Status != 200 || !bytes.Equal(r.Body, long) || r.Header.Get("X-Harmonia-Preview") != "false" {
		t.Fatalf("owner stream: %d, %d bytes", r.Status, len(r.Body))
	}
}

func TestCatalogueRejectsBadInput(t *testing.T) {
	artist, artistID := artistSetup(t)
	listener := newAccount(t)
	albumID := createAlbum(t, artist.AccessToken, artistID, "jazz", "2025-05-05")
	trackID := addTrack(t, artist.AccessToken, albumID, 1, synth.WAV(7, 3, 8000))
	expect(t, do(t, "POST", gw+"/albums/"+albumID+"/publish", artist.AccessToken, nil), 200)

	cases := []struct {
		name, method, path, tok string
		body                    any
		hdr                     []string
		status                  int
		field                   string
	}{
		{"bad album id", "GET", "/albums/not-an-id", listener.AccessToken, nil, nil, 400, "id"},
		{"bad track id", "GET", "/tracks/123/stream", listener.AccessToken, nil, nil, 400, "id"},
		{"unknown album", "GET", "/albums/01930000-0000-7000-8000-00000000dead", listener.AccessToken, nil, nil, 404, ""},
		{"bad sort", "GET", "/albums?sort=loud", listener.AccessToken, nil, nil, 400, "sort"},
		{"bad limit", "GET", "/albums?limit=1000", listener.AccessToken, nil, nil, 400, "limit"},
		{"bad cursor", "GET", "/albums?cursor=xyz", listener.AccessToken, nil, nil, 400, "cursor"},
		{"album without date", "POST", "/albums", artist.AccessToken, map[string]any{"artistId": artistID, "title": "T", "genre": "jazz"}, nil, 400, "releaseDate"},
		{"album for no artist", "POST", "/albums", artist.AccessToken, map[string]any{"artistId": "01930000-0000-7000-8000-00000000dead", "title": "T", "genre": "jazz", "releaseDate": "2025-01-01"}, nil, 400, "artistId"},
		{"track number zero", "POST", "/albums/" + albumID + "/tracks", artist.AccessToken, map[string]any{"title": "T", "trackNumber": 0}, nil, 400, "trackNumber"},
		{"not audio", "PUT", "/tracks/" + trackID + "/audio", artist.AccessToken, "this is plain text, not a song", []string{"Content-Type", "audio/mpeg"}, 415, ""},
		{"fake header only", "PUT", "/tracks/" + trackID + "/audio", artist.AccessToken, []byte("RIFF\x24\x00\x00\x00WAVEfmt garbage"), []string{"Content-Type", "audio/wav"}, 415, ""},
		{"oversize upload", "PUT", "/tracks/" + trackID + "/audio", artist.AccessToken, make([]byte, 11<<20), []string{"Content-Type", "audio/wav"}, 413, ""},
		{"someone else's track", "PUT", "/tracks/" + trackID + "/audio", listener.AccessToken, synth.WAV(8, 2, 8000), []string{"Content-Type", "audio/wav"}, 403, ""},
		{"malformed range", "GET", "/tracks/" + trackID + "/stream", listener.AccessToken, nil, []string{"Range", "bytes=abc"}, 416, ""},
		{"range past the end", "GET", "/tracks/" + trackID + "/stream", listener.AccessToken, nil, []string{"Range", "bytes=99999999-"}, 416, ""},
		{"range not bytes", "GET", "/tracks/" + trackID + "/stream", listener.AccessToken, nil, []string{"Range", "seconds=1-2"}, 416, ""},
		{"stale If-Match", "PATCH", "/albums/" + albumID, artist.AccessToken, map[string]any{"title": "New"}, []string{"If-Match", `"v1"`}, 412, ""},
		{"listener patches album", "PATCH", "/albums/" + albumID, listener.AccessToken, map[string]any{"title": "Mine"}, nil, 403, ""},
		{"listener creates artist", "POST", "/artists", listener.AccessToken, map[string]any{"name": "Me"}, nil, 403, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, c.method, gw+c.path, c.tok, c.body, c.hdr...)
			expectProblem(t, r, c.status, c.field)
			if c.status == 416 && !strings.HasPrefix(r.Header.Get("Content-Range"), "bytes */") {
				t.Fatalf("416 without Content-Range: %v", r.Header)
			}
		})
	}
	// the refused uploads left the audio as it was
	var tr track
	do(t, "GET", gw+"/tracks/"+trackID, listener.AccessToken, nil).json(t, &tr)
	if tr.Audio == nil || tr.Audio.DurationMs != 3000 {
		t.Fatalf("audio after refused uploads: %+v", tr.Audio)
	}
	// the current version is accepted
	r := do(t, "GET", gw+"/albums/"+albumID, artist.AccessToken, nil)
	expect(t, do(t, "PATCH", gw+"/albums/"+albumID, artist.AccessToken, map[string]any{"title": "Renamed"}, "If-Match", r.Header.Get("ETag")), 200)
}

func TestTrendingFollowsPlays(t *testing.T) {
	artist, artistID := artistSetup(t)
	listener := newAccount(t)
	genre := "e2e-" + randomHex(4)
	older := createAlbum(t, artist.AccessToken, artistID, genre, "2020-01-01")
	newer := createAlbum(t, artist.AccessToken, artistID, genre, "2024-01-01")
	var tracks []string
	for _, id := range []string{older, newer} {
		tracks = append(tracks, addTrack(t, artist.AccessToken, id, 1, synth.WAV(uint64(len(tracks)+50), 2, 8000)))
		expect(t, do(t, "POST", gw+"/albums/"+id+"/publish", artist.AccessToken, nil), 200)
	}
	var p page
	do(t, "GET", gw+"/albums?genre="+genre+"&sort=new", listener.AccessToken, nil).json(t, &p)
	if len(p.Items) != 2 || p.Items[0].ID != newer {
		t.Fatalf("sort=new: %+v", p.Items)
	}
	for i := 0; i < 3; i++ { // three plays of the older album; range requests after the first byte are not plays
		expect(t, do(t, "GET", gw+"/tracks/"+tracks[0]+"/stream", listener.AccessToken, nil, "X-Device", "web"), 200)
		expect(t, do(t, "GET", gw+"/tracks/"+tracks[1]+"/stream", listener.AccessToken, nil, "Range", "bytes=100-"), 206)
	}
	// plays reach trending through track.played events: wait for them
	deadline := time.Now().Add(30 * time.Second)
	for {
		do(t, "GET", gw+"/albums?genre="+genre+"&sort=trending", listener.AccessToken, nil).json(t, &p)
		if len(p.Items) == 2 && p.Items[0].ID == older {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("trending never put the played album first: %+v", p.Items)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// Renaming an artist through the gateway: its own account may, another
// listener may not, a bad name is a problem naming the field, a stale
// If-Match is 412, and search follows the new name.
func TestArtistRename(t *testing.T) {
	artist, artistID := artistSetup(t)
	other := newAccount(t)
	expectProblem(t, do(t, "PATCH", gw+"/artists/"+artistID, other.AccessToken, map[string]any{"name": "Stolen"}), 403, "")
	expectProblem(t, do(t, "PATCH", gw+"/artists/"+artistID, artist.AccessToken, map[string]any{"name": ""}), 400, "name")
	expectProblem(t, do(t, "PATCH", gw+"/artists/"+artistID, artist.AccessToken, map[string]any{"name": "X"}, "If-Match", `"v9"`), 412, "")
	newName := "Quixotic" + randomHex(3)
	r := do(t, "PATCH", gw+"/artists/"+artistID, artist.AccessToken, map[string]any{"name": newName + " Ensemble"})
	expect(t, r, 200)
	if r.Header.Get("ETag") != `"v2"` {
		t.Fatalf("ETag after one rename: %q", r.Header.Get("ETag"))
	}
	eventually(t, other.AccessToken, strings.ToLower(newName), "artist", 10*time.Second, func(s searchAnswer) bool { return s.has(artistID) })
}
