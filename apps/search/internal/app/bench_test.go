package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/harmonia-music/harmonia/apps/search/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/exports"
)

var benchWords = strings.Fields("Morning Light Run Home Static Fall Dream Fire Water Road Stone Sky Heart Shadow Dance Rain Night Gold Ghost Summer")

// seedLike is a catalogue shaped like the launcher's demo one: artists
// albums of artists tracks.
func seedLike(artists, albums, tracks int) *fakeExports {
	f := &fakeExports{}
	for a := range artists {
		f.artists = append(f.artists, exports.Artist{ID: fmt.Sprint("ar", a), Name: fmt.Sprintf("The %s %s", benchWords[a%20], benchWords[(a*7)%20]), Version: 1})
		for al := range albums {
			n := a*albums + al
			e := exports.Album{ID: fmt.Sprint("al", n), ArtistID: fmt.Sprint("ar", a), ArtistName: f.artists[a].Name,
				Title: benchWords[n%20] + " " + benchWords[(n*3+1)%20], Genre: "jazz", ReleaseDate: "1999-01-01", Version: 1}
			for t := range tracks {
				e.Tracks = append(e.Tracks, events.TrackFacts{TrackID: fmt.Sprint("t", n, "-", t), Title: benchWords[(n+t*5)%20] + " " + benchWords[(n*11+t)%20]})
			}
			f.albums = append(f.albums, e)
		}
	}
	return f
}

// benchSearch builds an index on disk from f and runs typed searches on it.
func benchSearch(b *testing.B, f *fakeExports) {
	s, _, err := Open(Config{Dir: b.TempDir() + "/index"}, f, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := s.Rebuild(context.Background()); err != nil {
		b.Fatal(err)
	}
	qs := []string{"morning li", "the gho", "stone sky", "shadxw dance", "rain"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Search(domain.Query{Text: qs[i%len(qs)], Kinds: domain.Kinds, Limit: 10}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSearch(b *testing.B) { benchSearch(b, seedLike(40, 3, 10)) }

// BenchmarkSuggestLarge completes typed prefixes of names over 110,000
// documents (the large catalogue's size), as the bench's suggest scenario asks.
func BenchmarkSuggestLarge(b *testing.B) {
	s := newSuggester()
	docs := map[string]Suggestion{}
	var names []string
	for i := range 110_000 {
		name := fmt.Sprintf("%s %s %d", benchWords[i%20], benchWords[(i*7/20)%20], i%997)
		if i%10 == 0 {
			name = "The " + name
		}
		docs[fmt.Sprint("track:", i)] = Suggestion{Text: name, Type: domain.Track, ID: fmt.Sprint(i)}
		if i < 200 {
			names = append(names, name)
		}
	}
	s.reset(docs)
	pop := newPopularity()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := []rune(names[i%len(names)])
		s.answers.Clear() // every completion computed: the worst case
		s.lookup(string(name[:1+(i*7)%len(name)]), 10, pop)
	}
}

// BenchmarkSearchLarge searches a 100,000-track catalogue shaped like the
// launcher's large one (20 words make every name: adversarial for an index).
func BenchmarkSearchLarge(b *testing.B) { benchSearch(b, seedLike(400, 25, 10)) }
