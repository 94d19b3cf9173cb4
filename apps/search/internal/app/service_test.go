package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/apps/search/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/exports"
)

// fakeExports is albums' and playlists' exports, two items a page.
type fakeExports struct {
	artists   []exports.Artist
	albums    []exports.Album
	playlists []exports.Playlist
	during    func() // runs while the albums export is read (a change arriving mid-rebuild)
}

func page[T any](items []T, c string) exports.Page[T] {
	off, _ := strconv.Atoi(c)
	end := min(off+2, len(items))
	p := exports.Page[T]{Items: items[off:end]}
	if end < len(items) {
		p.NextCursor = strconv.Itoa(end)
	}
	return p
}

func (f *fakeExports) Artists(_ context.Context, c string) (exports.Page[exports.Artist], error) {
	return page(f.artists, c), nil
}
func (f *fakeExports) Albums(_ context.Context, c string) (exports.Page[exports.Album], error) {
	if f.during != nil {
		f.during()
		f.during = nil
	}
	return page(f.albums, c), nil
}
func (f *fakeExports) Playlists(_ context.Context, c string) (exports.Page[exports.Playlist], error) {
	return page(f.playlists, c), nil
}

func catalogue() *fakeExports {
	return &fakeExports{
		artists: []exports.Artist{{ID: "ar1", Name: "Beyoncé", Genres: []string{"pop"}, Version: 1},
			{ID: "ar2", Name: "Miles Davis", Genres: []string{"jazz"}, Version: 1},
			{ID: "ar3", Name: "Pink Floyd", Genres: []string{"rock"}, Version: 1}},
		albums: []exports.Album{
			{ID: "al1", ArtistID: "ar1", ArtistName: "Beyoncé", Title: "Dangerously in Love", Genre: "pop", ReleaseDate: "2003-06-23", Version: 1,
				Tracks: []events.TrackFacts{{TrackID: "t1", Title: "Crazy in Love", Number: 1, DurationMs: 236000}}},
			{ID: "al2", ArtistID: "ar2", ArtistName: "Miles Davis", Title: "Kind of Blue", Genre: "jazz", ReleaseDate: "1959-08-17", Version: 1,
				Tracks: []events.TrackFacts{{TrackID: "t2", Title: "So What", Number: 1}, {TrackID: "t3", Title: "Blue in Green", Number: 3}}},
			{ID: "al3", ArtistID: "ar3", ArtistName: "Pink Floyd", Title: "The Dark Side of the Moon", Genre: "rock", ReleaseDate: "1973-03-01", Version: 1,
				Tracks: []events.TrackFacts{{TrackID: "t4", Title: "Money", Number: 6}}},
		},
		playlists: []exports.Playlist{{ID: "p1", OwnerID: "u1", Name: "Sunday jazz", TrackCount: 2, Version: 1}},
	}
}

func built(t *testing.T, f *fakeExports) *Service {
	t.Helper()
	s, fresh, err := Open(Config{}, f, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil || !fresh {
		t.Fatal(err, fresh)
	}
	if _, _, err := s.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func ids(t *testing.T, s *Service, q string, kinds ...domain.Kind) []string {
	t.Helper()
	if kinds == nil {
		kinds = domain.Kinds
	}
	s.flush() // what the flush loop does within FlushEvery
	a, err := s.Search(domain.Query{Text: q, Kinds: kinds, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range kinds {
		for _, it := range a.Groups[k].Items {
			out = append(out, it.ID)
		}
	}
	return out
}

func has(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func TestMatchingForgivesTyposPrefixesAccentsAndOrder(t *testing.T) {
	s := built(t, catalogue())
	for q, want := range map[string]string{
		"beyonce":          "ar1", // accents folded
		"Beyoncé":          "ar1",
		"bey":              "ar1", // prefix on the last word
		"miles dabis":      "ar2", // one typo in a 5-letter word
		"davis miles":      "ar2", // any order
		"dark side mo":     "al3",
		"dangerusly":       "al1", // one typo in 10 letters
		"dangrusly":        "al1", // two typos in 10 letters
		"crazy love":       "t1",
		"blue green davis": "t3", // words across the title and the artist
		"sunday":           "p1",
	} {
		if got := ids(t, s, q); !has(got, want) {
			t.Errorf("%q: %v, want %s among them", q, got, want)
		}
	}
	for _, q := range []string{"mlies davis", "zzz", "kind of red"} { // a transposition is two edits; every word must match
		if got := ids(t, s, q); len(got) != 0 {
			t.Errorf("%q found %v", q, got)
		}
	}
	if got := ids(t, s, "moneys", domain.Track); !has(got, "t4") {
		t.Errorf("moneys: %v", got)
	}
	if got := ids(t, s, "monye", domain.Album); len(got) != 0 {
		t.Errorf("the type filter let other kinds through: %v", got)
	}
}

func TestOlderVersionsNeverOverwriteNewerOnes(t *testing.T) {
	s := built(t, catalogue())
	if err := s.Artist("ar2", "Miles Dewey Davis", []string{"jazz"}, 3); err != nil {
		t.Fatal(err)
	}
	if err := s.Artist("ar2", "Old Name", []string{"jazz"}, 2); err != nil { // late
		t.Fatal(err)
	}
	if got := ids(t, s, "dewey"); !has(got, "ar2") || !has(got, "al2") || !has(got, "t2") {
		t.Fatalf("a rename reaches the artist, its albums and tracks: %v", got)
	}
	if got := ids(t, s, "old name"); len(got) != 0 {
		t.Fatalf("an older version overwrote a newer one: %v", got)
	}
	// album.updated twice (a redelivery) and an older one
	up := events.Album{AlbumID: "al2", ArtistID: "ar2", Title: "Kind of Blue (Legacy)", Genre: "jazz", ReleaseDate: "1959-08-17", Version: 4}
	for range 2 {
		if err := s.Album(up); err != nil {
			t.Fatal(err)
		}
	}
	up.Title, up.Version = "Stale", 2
	_ = s.Album(up)
	if got := ids(t, s, "legacy"); !has(got, "al2") || !has(got, "t2") {
		t.Fatalf("%v", got)
	}
	if got := ids(t, s, "stale"); len(got) != 0 {
		t.Fatalf("%v", got)
	}
}

func TestPrivateAndDeletedPlaylistsAreNeverFound(t *testing.T) {
	s := built(t, catalogue())
	p := exports.Playlist{ID: "p2", OwnerID: "u2", Name: "Secret mix", Version: 1}
	if err := s.Playlist(p, false); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, s, "secret"); len(got) != 0 {
		t.Fatalf("a private playlist was found: %v", got)
	}
	p.Version = 2
	_ = s.Playlist(p, true)
	if got := ids(t, s, "secret"); !has(got, "p2") {
		t.Fatal("made public, still not found")
	}
	p.Version = 3
	_ = s.Playlist(p, false)
	if got := ids(t, s, "secret"); len(got) != 0 {
		t.Fatal("made private, still found")
	}
	if got := s.Suggest("sunday", 10); len(got) != 1 || got[0].ID != "p1" { // cached now
		t.Fatalf("%+v", got)
	}
	_ = s.PlaylistDeleted("p1")
	if got := s.Suggest("sunday", 10); len(got) != 0 {
		t.Fatalf("a cached answer suggested a deleted playlist: %+v", got)
	}
	p1 := exports.Playlist{ID: "p1", OwnerID: "u1", Name: "Sunday jazz", Version: 7}
	_ = s.Playlist(p1, true) // a change that arrives after the deletion
	if got := ids(t, s, "sunday"); len(got) != 0 {
		t.Fatal("a deleted playlist came back")
	}
	s.sugg.rebuild()
	for _, sg := range s.Suggest("s", 10) {
		if sg.ID == "p1" || sg.ID == "p2" {
			t.Fatalf("suggested a private or deleted playlist: %+v", sg)
		}
	}
}

func TestRelevanceThenPopularity(t *testing.T) {
	f := catalogue()
	f.albums = append(f.albums,
		exports.Album{ID: "al4", ArtistID: "ar2", ArtistName: "Miles Davis", Title: "Blue Train", Genre: "jazz", ReleaseDate: "1957-01-01", Version: 1},
		exports.Album{ID: "al5", ArtistID: "ar3", ArtistName: "Pink Floyd", Title: "Blue Train", Genre: "rock", ReleaseDate: "1970-01-01", Version: 1})
	s := built(t, f)
	first := func() string { return ids(t, s, "blue train", domain.Album)[0] }
	before := first()
	other := map[string]string{"al4": "al5", "al5": "al4"}[before]
	for range 3 {
		s.Played(events.TrackPlayed{TrackID: "x", AlbumID: other, PlayedAt: time.Now()})
	}
	if got := first(); got != other {
		t.Fatalf("equally relevant albums: the played one (%s) must come first, got %s", other, got)
	}
	// relevance first: an exact title beats a popular partial match
	for range 50 {
		s.Played(events.TrackPlayed{TrackID: "x", AlbumID: "al2", PlayedAt: time.Now()})
	}
	if got := first(); got == "al2" {
		t.Fatal("popularity outranked relevance")
	}
}

// A change that arrives while a rebuild reads the exports is not lost when
// the new index replaces the old one.
func TestRebuildKeepsChangesMadeMeanwhile(t *testing.T) {
	f := catalogue()
	s := built(t, f)
	f.during = func() {
		if err := s.Artist("ar9", "Nina Simone", []string{"jazz"}, 1); err != nil {
			t.Error(err)
		}
	}
	n, _, err := s.Rebuild(context.Background())
	if err != nil || n < 10 {
		t.Fatal(n, err)
	}
	if got := ids(t, s, "nina simone"); !has(got, "ar9") {
		t.Fatal("the change made during the rebuild was lost")
	}
	if got := ids(t, s, "crazy"); !has(got, "t1") {
		t.Fatal("the rebuilt index lacks the catalogue")
	}
}

func TestPagesAndFacets(t *testing.T) {
	f := catalogue()
	for i := range 7 {
		f.albums = append(f.albums, exports.Album{ID: "lo" + string(rune('a'+i)), ArtistID: "ar2", ArtistName: "Miles Davis",
			Title: "Love song " + string(rune('a'+i)), Genre: "jazz", ReleaseDate: "1965-01-01", Version: 1})
	}
	s := built(t, f)
	seen := map[string]bool{}
	q := domain.Query{Text: "love", Kinds: []domain.Kind{domain.Album}, Limit: 3, Facets: true}
	for pages := 0; ; pages++ {
		a, err := s.Search(q)
		if err != nil || pages > 5 {
			t.Fatal(err)
		}
		if pages == 0 {
			if len(a.Facets["decade"]) == 0 || len(a.Facets["genre"]) == 0 {
				t.Fatalf("facets: %+v", a.Facets)
			}
		}
		for _, it := range a.Groups[domain.Album].Items {
			if seen[it.ID] {
				t.Fatal("twice", it.ID)
			}
			seen[it.ID] = true
		}
		c := a.Groups[domain.Album].NextCursor
		if c == "" {
			break
		}
		if q.Offset, err = DecodeCursor(c, domain.Album); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 8 { // seven love songs and Dangerously in Love
		t.Fatalf("paged through %d albums, want 8", len(seen))
	}
}

func TestSuggestCompletesAcrossKinds(t *testing.T) {
	s := built(t, catalogue())
	s.sugg.rebuild()
	got := s.Suggest("bey", 10)
	if len(got) == 0 || got[0].ID != "ar1" || got[0].Text != "Beyoncé" {
		t.Fatalf("%+v", got)
	}
	if got := s.Suggest("dark si", 10); len(got) != 1 || got[0].ID != "al3" {
		t.Fatalf("%+v", got)
	}
	if got := s.Suggest("moon", 10); len(got) != 1 || got[0].ID != "al3" { // a word inside the name
		t.Fatalf("%+v", got)
	}
	if got := s.Suggest("b", 2); len(got) != 2 {
		t.Fatalf("limit: %+v", got)
	}
}

// Changes are held and written as one batch: a search sees them after the
// flush, a single-document read (the version check) at once.
func TestHeldWritesAreSeenByVersionChecksAndFlushedAsOneBatch(t *testing.T) {
	s := built(t, catalogue())
	if err := s.Artist("ar7", "Nina Simone", nil, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.Artist("ar7", "Stale", nil, 1); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.Search(domain.Query{Text: "nina", Kinds: domain.Kinds, Limit: 5}); a.Top != nil {
		t.Fatal("searched before the flush and found it: nothing was held")
	}
	if got := ids(t, s, "nina"); !has(got, "ar7") {
		t.Fatal("not found after the flush")
	}
	if got := ids(t, s, "stale"); len(got) != 0 {
		t.Fatal("the held newer version did not stop the older one")
	}
}

// One kind with few matches is not crowded out of the combined query by a
// kind with many.
func TestAKindWithFewMatchesIsNotCrowdedOut(t *testing.T) {
	f := catalogue()
	for i := range 30 {
		f.albums = append(f.albums, exports.Album{ID: fmt.Sprintf("x%02d", i), ArtistID: "ar2", ArtistName: "Miles Davis",
			Title: "Sunday morning", Genre: "jazz", ReleaseDate: "1960-01-01", Version: 1,
			Tracks: []events.TrackFacts{{TrackID: fmt.Sprintf("xt%02d", i), Title: "Sunday " + fmt.Sprint(i)}}})
	}
	s := built(t, f)
	a, err := s.Search(domain.Query{Text: "sunday", Kinds: domain.Kinds, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Groups[domain.Playlist].Items) != 1 || len(a.Groups[domain.Track].Items) != 2 || a.Groups[domain.Track].NextCursor == "" {
		t.Fatalf("playlists %+v, tracks %+v", a.Groups[domain.Playlist], a.Groups[domain.Track])
	}
}
