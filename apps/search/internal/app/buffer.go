package app

import (
	"sync"

	"github.com/harmonia-music/harmonia/apps/search/internal/domain"
	"github.com/harmonia-music/harmonia/apps/search/internal/index"
)

// buffered holds an index's writes in memory until Flush, so that many
// events become one Bleve batch (each batch is a new segment to write and
// merge: one per event cost more CPU than the rest of the stack's requests).
// Reads of single documents see the held writes (version checks need them);
// searches see them after the next flush, a fraction of a second later.
type buffered struct {
	index.Index
	mu   sync.Mutex
	held map[string]domain.Doc
}

func buffer(ix index.Index) *buffered { return &buffered{Index: ix, held: map[string]domain.Doc{}} }

// Put holds docs until the next Flush.
func (b *buffered) Put(docs []domain.Doc) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, d := range docs {
		b.held[d.Key()] = d
	}
	return nil
}

// Get sees held writes first.
func (b *buffered) Get(key string) (*domain.Doc, error) {
	b.mu.Lock()
	d, ok := b.held[key]
	b.mu.Unlock()
	if ok {
		return &d, nil
	}
	return b.Index.Get(key)
}

// overlay merges held writes into stored documents matched by match.
func (b *buffered) overlay(stored []domain.Doc, match func(domain.Doc) bool) []domain.Doc {
	b.mu.Lock()
	defer b.mu.Unlock()
	seen := map[string]bool{}
	out := make([]domain.Doc, 0, len(stored))
	for _, d := range stored {
		if h, ok := b.held[d.Key()]; ok {
			d = h
		}
		seen[d.Key()] = true
		if match(d) {
			out = append(out, d)
		}
	}
	for k, d := range b.held {
		if !seen[k] && match(d) {
			out = append(out, d)
		}
	}
	return out
}

// ByArtist sees held writes too.
func (b *buffered) ByArtist(artistID string) ([]domain.Doc, error) {
	stored, err := b.Index.ByArtist(artistID)
	if err != nil {
		return nil, err
	}
	return b.overlay(stored, func(d domain.Doc) bool { return d.ArtistID == artistID && d.Kind != domain.Artist }), nil
}

// ByAlbum sees held writes too.
func (b *buffered) ByAlbum(albumID string) ([]domain.Doc, error) {
	stored, err := b.Index.ByAlbum(albumID)
	if err != nil {
		return nil, err
	}
	return b.overlay(stored, func(d domain.Doc) bool { return d.AlbumID == albumID && d.Kind == domain.Track }), nil
}

// Flush writes what is held as one batch.
func (b *buffered) Flush() error {
	b.mu.Lock()
	if len(b.held) == 0 {
		b.mu.Unlock()
		return nil
	}
	docs := make([]domain.Doc, 0, len(b.held))
	for _, d := range b.held {
		docs = append(docs, d)
	}
	b.held = map[string]domain.Doc{}
	b.mu.Unlock()
	if err := b.Index.Put(docs); err != nil {
		b.mu.Lock()
		for _, d := range docs { // held again, unless a newer write came meanwhile
			if _, newer := b.held[d.Key()]; !newer {
				b.held[d.Key()] = d
			}
		}
		b.mu.Unlock()
		return err
	}
	return nil
}
