// Package app holds search's use cases: keeping the index in step with the
// catalogue's and playlists' events, rebuilding it from their exports, and
// answering searches and suggestions.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/harmonia-music/harmonia/apps/search/internal/domain"
	"github.com/harmonia-music/harmonia/apps/search/internal/index"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/exports"
	"github.com/harmonia-music/harmonia/internal/platform/cursor"
	"github.com/harmonia-music/harmonia/internal/platform/fault"
)

// Exporter pages through the catalogue and the public playlists (albums'
// and playlists' internal exports).
type Exporter interface {
	Artists(ctx context.Context, cursor string) (exports.Page[exports.Artist], error)
	Albums(ctx context.Context, cursor string) (exports.Page[exports.Album], error)
	Playlists(ctx context.Context, cursor string) (exports.Page[exports.Playlist], error)
}

// Config is search's configuration.
type Config struct {
	Dir            string        // the index's folder; "" keeps it in memory (tests)
	SaveEvery      time.Duration // how often play counts are saved
	SuggestRebuild time.Duration // how often suggestions take changes in
	FlushEvery     time.Duration // how often held index writes are written (one batch)
}

// Service is search.
type Service struct {
	cfg Config
	exp Exporter
	log *slog.Logger
	now func() time.Time

	mu  sync.RWMutex // guards idx: searches read under it, a rebuild's swap writes
	idx *buffered    // writes are held and flushed as one batch every FlushEvery

	writeMu    sync.Mutex // one change at a time (versions are read, then written)
	rebuilding bool
	pending    []change // changes made during a rebuild, to make again on the new index

	pop  *Popularity
	sugg *suggester
	done chan struct{}
}

// change is one event's effect on an index.
type change func(ix index.Index) error

// Open opens (or creates) the index. needsRebuild is true when it is new or
// was built with another mapping; Rebuild fills it.
func Open(cfg Config, exp Exporter, log *slog.Logger, now func() time.Time) (s *Service, needsRebuild bool, err error) {
	if now == nil {
		now = time.Now
	}
	if cfg.SaveEvery == 0 {
		cfg.SaveEvery = 5 * time.Second
	}
	if cfg.SuggestRebuild == 0 {
		cfg.SuggestRebuild = time.Second
	}
	if cfg.FlushEvery == 0 {
		cfg.FlushEvery = time.Second
	}
	var ix index.Index
	fresh := true
	if cfg.Dir == "" {
		ix, err = index.Create("")
	} else {
		if err := os.MkdirAll(filepath.Dir(cfg.Dir), 0o700); err != nil {
			return nil, false, err
		}
		ix, fresh, err = index.Open(cfg.Dir)
	}
	if err != nil {
		return nil, false, err
	}
	s = &Service{cfg: cfg, exp: exp, log: log, now: now, idx: buffer(ix), pop: newPopularity(), sugg: newSuggester(), done: make(chan struct{})}
	if b, err := ix.Meta("popularity"); err == nil && len(b) > 0 {
		if err := s.pop.Load(b); err != nil {
			log.Warn("play counts not loaded", slog.String("error", err.Error()))
		}
	}
	n, err := ix.Count()
	if err != nil {
		return nil, false, err
	}
	if !fresh {
		if err := s.loadSuggestions(ix); err != nil {
			return nil, false, err
		}
	}
	return s, fresh || n == 0, nil
}

// loadSuggestions fills the suggester from every visible document.
func (s *Service) loadSuggestions(ix index.Index) error {
	all := map[string]Suggestion{}
	for _, k := range domain.Kinds {
		docs, err := ix.All(k)
		if err != nil {
			return err
		}
		for _, d := range docs {
			all[d.Key()] = Suggestion{Text: d.Name, Type: d.Kind, ID: d.ID}
		}
	}
	s.sugg.reset(all)
	return nil
}

// Run saves play counts and refreshes suggestions until ctx ends, then
// saves once more and closes the index.
func (s *Service) Run(ctx context.Context) {
	defer close(s.done)
	save := time.NewTicker(s.cfg.SaveEvery)
	sug := time.NewTicker(s.cfg.SuggestRebuild)
	flush := time.NewTicker(s.cfg.FlushEvery)
	defer save.Stop()
	defer sug.Stop()
	defer flush.Stop()
	for {
		select {
		case <-ctx.Done():
			s.flush()
			s.savePlays()
			s.mu.Lock()
			_ = s.idx.Close()
			s.mu.Unlock()
			return
		case <-flush.C:
			s.flush()
		case <-save.C:
			s.pop.Expire(s.now())
			s.savePlays()
		case <-sug.C:
			s.sugg.rebuild()
		}
	}
}

// Done is closed when Run has saved and closed the index.
func (s *Service) Done() <-chan struct{} { return s.done }

// flush writes the held index changes (one batch).
func (s *Service) flush() {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.idx.Flush(); err != nil {
		s.log.Warn("index changes not written yet; retrying", slog.String("error", err.Error()))
	}
}

func (s *Service) savePlays() {
	b, changed := s.pop.Snapshot()
	if !changed {
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.idx.SetMeta("popularity", b); err != nil {
		s.log.Warn("play counts not saved", slog.String("error", err.Error()))
	}
}

// apply makes one change on the live index (and remembers it for the index
// a rebuild is filling).
func (s *Service) apply(c change) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.RLock()
	err := c(s.idx)
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	if s.rebuilding {
		s.pending = append(s.pending, c)
	}
	return nil
}

// Artist takes artist.created and artist.updated in: a rename reaches the
// artist's albums and tracks too. An older version changes nothing.
func (s *Service) Artist(id, name string, genres []string, version int) error {
	return s.apply(func(ix index.Index) error { return s.putArtist(ix, id, name, genres, version) })
}

func (s *Service) putArtist(ix index.Index, id, name string, genres []string, version int) error {
	cur, err := ix.Get(domain.Key(domain.Artist, id))
	if err != nil || !cur.Newer(version) {
		return err
	}
	d := domain.Doc{Kind: domain.Artist, ID: id, Name: name, Version: version}
	if len(genres) > 0 {
		d.Genre = genres[0]
	}
	docs := []domain.Doc{d}
	if cur != nil && cur.Name != name {
		related, err := ix.ByArtist(id)
		if err != nil {
			return err
		}
		for _, r := range related {
			r.ArtistName = name
			docs = append(docs, r)
		}
	}
	if err := ix.Put(docs); err != nil {
		return err
	}
	s.sugg.put(d)
	return nil
}

// Album takes album.published and album.updated in: the album and its
// tracks (nil Tracks: unchanged), at the album's version.
func (s *Service) Album(f events.Album) error {
	return s.apply(func(ix index.Index) error { return s.putAlbum(ix, f) })
}

func (s *Service) putAlbum(ix index.Index, f events.Album) error {
	cur, err := ix.Get(domain.Key(domain.Album, f.AlbumID))
	if err != nil || !cur.Newer(f.Version) {
		return err
	}
	if f.ArtistName == "" {
		if a, err := ix.Get(domain.Key(domain.Artist, f.ArtistID)); err == nil && a != nil {
			f.ArtistName = a.Name
		}
	}
	year := domain.YearOf(f.ReleaseDate)
	album := domain.Doc{Kind: domain.Album, ID: f.AlbumID, Name: f.Title, ArtistID: f.ArtistID, ArtistName: f.ArtistName,
		Genre: f.Genre, Year: year, Version: f.Version}
	existing, err := ix.ByAlbum(f.AlbumID)
	if err != nil {
		return err
	}
	docs := []domain.Doc{}
	if f.Tracks == nil {
		for _, t := range existing {
			t.AlbumTitle, t.ArtistName, t.Genre, t.Year, t.Version = f.Title, f.ArtistName, f.Genre, year, f.Version
			docs = append(docs, t)
		}
		album.TrackCount = len(existing)
	} else {
		keep := map[string]bool{}
		for _, t := range f.Tracks {
			keep[t.TrackID] = true
			docs = append(docs, domain.Doc{Kind: domain.Track, ID: t.TrackID, Name: t.Title, ArtistID: f.ArtistID,
				ArtistName: f.ArtistName, AlbumID: f.AlbumID, AlbumTitle: f.Title, Genre: f.Genre, Year: year,
				DurationMs: t.DurationMs, Number: t.Number, Version: f.Version})
		}
		for _, t := range existing {
			if t.Kind == domain.Track && !keep[t.ID] {
				t.Hidden, t.Version = true, f.Version
				docs = append(docs, t)
			}
		}
		album.TrackCount = len(f.Tracks)
	}
	docs = append(docs, album)
	if err := ix.Put(docs); err != nil {
		return err
	}
	for _, d := range docs {
		s.sugg.put(d)
	}
	return nil
}

// Playlist takes playlist.changed in: a public playlist is found, a private
// one no longer.
func (s *Service) Playlist(p exports.Playlist, public bool) error {
	return s.apply(func(ix index.Index) error {
		cur, err := ix.Get(domain.Key(domain.Playlist, p.ID))
		if err != nil || !cur.Newer(p.Version) {
			return err
		}
		d := domain.Doc{Kind: domain.Playlist, ID: p.ID, Name: p.Name, OwnerID: p.OwnerID, TrackCount: p.TrackCount,
			Version: p.Version, Hidden: !public}
		if err := ix.Put([]domain.Doc{d}); err != nil {
			return err
		}
		s.sugg.put(d)
		return nil
	})
}

// PlaylistDeleted takes playlist.deleted in: hidden for good (no later
// version can bring it back).
func (s *Service) PlaylistDeleted(id string) error {
	return s.apply(func(ix index.Index) error {
		d := domain.Doc{Kind: domain.Playlist, ID: id, Version: math.MaxInt32, Hidden: true}
		if err := ix.Put([]domain.Doc{d}); err != nil {
			return err
		}
		s.sugg.remove(d.Key())
		return nil
	})
}

// Played takes track.played in (popularity).
func (s *Service) Played(e events.TrackPlayed) {
	keys := []string{domain.Key(domain.Track, e.TrackID), domain.Key(domain.Album, e.AlbumID)}
	if e.ArtistID != "" {
		keys = append(keys, domain.Key(domain.Artist, e.ArtistID))
	}
	s.pop.Add(e.PlayedAt, keys...)
}

// ErrRebuilding answers a reindex asked while one runs.
var ErrRebuilding = errors.New("a rebuild is already running")

// Rebuild builds a new index from the exports while the current one keeps
// answering, makes again on it the changes events brought meanwhile, and
// swaps it in. It returns the number of documents and how long it took.
func (s *Service) Rebuild(ctx context.Context) (int, time.Duration, error) {
	start := time.Now()
	s.writeMu.Lock()
	if s.rebuilding {
		s.writeMu.Unlock()
		return 0, 0, ErrRebuilding
	}
	s.rebuilding, s.pending = true, nil
	s.writeMu.Unlock()
	finish := func() {
		s.writeMu.Lock()
		s.rebuilding, s.pending = false, nil
		s.writeMu.Unlock()
	}
	dir := ""
	if s.cfg.Dir != "" {
		dir = s.cfg.Dir + ".rebuild"
		if err := os.RemoveAll(dir); err != nil {
			finish()
			return 0, 0, err
		}
	}
	created, err := index.Create(dir)
	if err != nil {
		finish()
		return 0, 0, err
	}
	next := buffer(created)
	n, err := s.fill(ctx, next)
	if err != nil {
		_ = next.Close()
		finish()
		return 0, 0, err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	for _, c := range s.pending {
		if err := c(next); err != nil {
			s.log.Warn("a change during the rebuild was not carried over", slog.String("error", err.Error()))
		}
	}
	if b, _ := s.pop.Snapshot(); b != nil {
		_ = next.SetMeta("popularity", b)
	} else if b, err := s.liveMeta("popularity"); err == nil && b != nil {
		_ = next.SetMeta("popularity", b)
	}
	if err := next.Flush(); err != nil {
		_ = next.Close()
		s.rebuilding, s.pending = false, nil
		return 0, 0, err
	}
	if err := s.swap(next, dir); err != nil {
		s.rebuilding, s.pending = false, nil
		return 0, 0, err
	}
	s.rebuilding, s.pending = false, nil
	if err := s.loadSuggestions(s.current()); err != nil {
		return n, time.Since(start), err
	}
	return n, time.Since(start), nil
}

func (s *Service) liveMeta(key string) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.idx.Meta(key)
}

func (s *Service) current() index.Index {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.idx
}

// swap puts next in place of the live index (on disk: in its folder).
func (s *Service) swap(next *buffered, dir string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if dir == "" {
		old := s.idx
		s.idx = next
		return old.Close()
	}
	if err := next.Close(); err != nil {
		return err
	}
	if err := s.idx.Close(); err != nil {
		return err
	}
	if err := os.RemoveAll(s.cfg.Dir); err != nil {
		return err
	}
	if err := os.Rename(dir, s.cfg.Dir); err != nil {
		return err
	}
	ix, _, err := index.Open(s.cfg.Dir)
	if err != nil {
		return err
	}
	s.idx = buffer(ix)
	return nil
}

// fill reads every export into ix, one batch a page.
func (s *Service) fill(ctx context.Context, ix *buffered) (int, error) {
	n := 0
	for c := ""; ; {
		p, err := s.exp.Artists(ctx, c)
		if err != nil {
			return n, fmt.Errorf("artists export: %w", err)
		}
		for _, a := range p.Items {
			if err := s.putArtist(ix, a.ID, a.Name, a.Genres, a.Version); err != nil {
				return n, err
			}
			n++
		}
		if err := ix.Flush(); err != nil {
			return n, err
		}
		if c = p.NextCursor; c == "" {
			break
		}
	}
	for c := ""; ; {
		p, err := s.exp.Albums(ctx, c)
		if err != nil {
			return n, fmt.Errorf("albums export: %w", err)
		}
		for _, a := range p.Items {
			tracks := a.Tracks
			if tracks == nil {
				tracks = []events.TrackFacts{}
			}
			if err := s.putAlbum(ix, events.Album{AlbumID: a.ID, ArtistID: a.ArtistID, ArtistName: a.ArtistName, Title: a.Title,
				Genre: a.Genre, ReleaseDate: a.ReleaseDate, Tracks: tracks, Version: max(a.Version, 1)}); err != nil {
				return n, err
			}
			n += 1 + len(tracks)
		}
		if err := ix.Flush(); err != nil {
			return n, err
		}
		if c = p.NextCursor; c == "" {
			break
		}
	}
	for c := ""; ; {
		p, err := s.exp.Playlists(ctx, c)
		if err != nil {
			return n, fmt.Errorf("playlists export: %w", err)
		}
		docs := make([]domain.Doc, 0, len(p.Items))
		for _, pl := range p.Items {
			docs = append(docs, domain.Doc{Kind: domain.Playlist, ID: pl.ID, Name: pl.Name, OwnerID: pl.OwnerID,
				TrackCount: pl.TrackCount, Version: pl.Version})
		}
		if err := ix.Put(docs); err != nil {
			return n, err
		}
		if err := ix.Flush(); err != nil {
			return n, err
		}
		n += len(docs)
		if c = p.NextCursor; c == "" {
			break
		}
	}
	return n, nil
}

// Item is one result as clients see it.
type Item struct {
	ID         string      `json:"id"`
	Type       domain.Kind `json:"type"`
	Title      string      `json:"title,omitempty"` // tracks and albums
	Name       string      `json:"name,omitempty"`  // artists and playlists
	ArtistID   string      `json:"artistId,omitempty"`
	ArtistName string      `json:"artistName,omitempty"`
	AlbumID    string      `json:"albumId,omitempty"`
	AlbumTitle string      `json:"albumTitle,omitempty"`
	Genre      string      `json:"genre,omitempty"`
	Year       int         `json:"year,omitempty"`
	DurationMs int64       `json:"durationMs,omitempty"`
	TrackCount int         `json:"trackCount,omitempty"`
	OwnerID    string      `json:"ownerId,omitempty"`
	Plays      int         `json:"plays"`
	Score      float64     `json:"score"`
}

// Group is one kind's page of results.
type Group struct {
	Items      []Item `json:"items"`
	NextCursor string `json:"nextCursor,omitempty"`
}

// Answer is a search's answer: the groups asked for, the best hit of all,
// and facets when asked.
type Answer struct {
	Top    *Item
	Groups map[domain.Kind]*Group
	Facets map[string][]index.Facet
}

func itemOf(h index.Hit, plays int) Item {
	d := h.Doc
	it := Item{ID: d.ID, Type: d.Kind, ArtistID: d.ArtistID, ArtistName: d.ArtistName, AlbumID: d.AlbumID,
		AlbumTitle: d.AlbumTitle, Genre: d.Genre, Year: d.Year, DurationMs: d.DurationMs, TrackCount: d.TrackCount,
		OwnerID: d.OwnerID, Plays: plays, Score: math.Round(h.Score*1000) / 1000}
	if d.Kind == domain.Track || d.Kind == domain.Album {
		it.Title = d.Name
	} else {
		it.Name = d.Name
	}
	return it
}

// sig3 rounds to three significant digits: scores that close are a tie,
// which popularity breaks.
func sig3(x float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 3, 64), 64)
	return v
}

// CursorFor encodes a kind's next page.
func cursorFor(k domain.Kind, offset int) string { return cursor.Encode(offset, "search-"+string(k)) }

// DecodeCursor reads a cursor of kind k.
func DecodeCursor(c string, k domain.Kind) (int, error) {
	off, err := cursor.Decode(c, "search-"+string(k))
	if err != nil {
		return 0, fault.Invalid("cursor", "is not a cursor of type "+string(k)+" results")
	}
	return off, nil
}

// Search answers q: per kind, ranked by relevance, then popularity (plays in
// the last 30 days) among equally relevant results.
func (s *Service) Search(q domain.Query) (Answer, error) {
	words := index.Fold(q.Text)
	ans := Answer{Groups: map[domain.Kind]*Group{}}
	need := q.Offset + q.Limit + 1 // one more than the page: is there a next one?
	s.mu.RLock()
	defer s.mu.RUnlock()
	// One query for every kind asked (fuzzy matching is the cost, paid
	// once); a kind the combined top did not fill is asked alone.
	byKind := map[domain.Kind][]index.Hit{}
	res, err := s.idx.Search(words, q.Kinds, need*len(q.Kinds))
	if err != nil {
		return ans, err
	}
	for _, h := range res.Hits {
		byKind[h.Doc.Kind] = append(byKind[h.Doc.Kind], h)
	}
	truncated := res.Total > uint64(len(res.Hits))
	for _, k := range q.Kinds {
		if truncated && len(q.Kinds) > 1 && len(byKind[k]) < need {
			one, err := s.idx.Search(words, []domain.Kind{k}, need)
			if err != nil {
				return ans, err
			}
			byKind[k] = one.Hits
		}
		g := &Group{Items: []Item{}}
		ans.Groups[k] = g
		items := make([]Item, len(byKind[k]))
		for i, h := range byKind[k] {
			items[i] = itemOf(h, s.pop.Of(h.Doc.Kind, h.Doc.ID))
		}
		slices.SortStableFunc(items, func(a, b Item) int {
			if sa, sb := sig3(a.Score), sig3(b.Score); sa != sb {
				if sa > sb {
					return -1
				}
				return 1
			}
			return b.Plays - a.Plays
		})
		end := min(q.Offset+q.Limit, len(items))
		if q.Offset < end {
			g.Items = items[q.Offset:end]
		}
		if len(items) > q.Offset+q.Limit && q.Offset+q.Limit < domain.MaxDepth {
			g.NextCursor = cursorFor(k, q.Offset+q.Limit)
		}
		if q.Offset == 0 && len(g.Items) > 0 && (ans.Top == nil || g.Items[0].Score > ans.Top.Score) {
			top := g.Items[0]
			ans.Top = &top
		}
	}
	if q.Facets {
		f, err := s.idx.Facets(words, q.Kinds)
		if err != nil {
			return ans, err
		}
		ans.Facets = f
	}
	return ans, nil
}

// Suggest completes a prefix across kinds.
func (s *Service) Suggest(prefix string, limit int) []Suggestion {
	return s.sugg.lookup(prefix, limit, s.pop)
}

// Documents counts the index's documents (hidden ones included).
func (s *Service) Documents() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.idx.Count()
}
