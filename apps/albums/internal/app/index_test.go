package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/apps/albums/internal/domain"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

// recordingKV is the in-memory store that notes the keys each transaction
// writes.
type recordingKV struct {
	*state.Memory
	mu     sync.Mutex
	writes [][]string
}

func (r *recordingKV) Transact(ctx context.Context, ops []state.Op) error {
	keys := make([]string, len(ops))
	for i, op := range ops {
		keys[i] = op.Key
	}
	r.mu.Lock()
	r.writes = append(r.writes, keys)
	r.mu.Unlock()
	return r.Memory.Transact(ctx, ops)
}

func (r *recordingKV) last() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writes[len(r.writes)-1]
}

func indexKeys(keys []string) []string {
	var out []string
	for _, k := range keys {
		if strings.HasPrefix(k, "index|") {
			out = append(out, k)
		}
	}
	return out
}

func newRecorded(t *testing.T) (*Service, *recordingKV) {
	t.Helper()
	kv := &recordingKV{Memory: state.NewMemory()}
	s := New(Config{PreviewLength: 30 * time.Second, MaxAudioBytes: 1 << 20, EntitlementWait: time.Second,
		EntitlementCache: time.Minute}, kv, &memMedia{files: map[string][]byte{}}, &ents{}, nil, &pubsub.Memory{}, nil)
	return s, kv
}

// A write of one album rewrites one small index document, however large
// the catalogue: the index is sharded by id.
func TestAnAlbumWriteTouchesOneIndexShard(t *testing.T) {
	s, kv := newRecorded(t)
	ctx := context.Background()
	admin := domain.Viewer{UserID: "a", IsAdmin: true}
	artist, err := s.CreateArtist(ctx, admin, domain.Artist{Name: "Band"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if _, err := s.CreateAlbum(ctx, admin, domain.Album{ArtistID: artist.ID, Title: fmt.Sprint("A", i), Genre: "jazz", ReleaseDate: "2024-01-01"}); err != nil {
			t.Fatal(err)
		}
	}
	al, err := s.CreateAlbum(ctx, admin, domain.Album{ArtistID: artist.ID, Title: "Last", Genre: "jazz", ReleaseDate: "2024-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := indexKeys(kv.last()), []string{"index|" + shardID(domain.IndexShard(al.ID))}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("creating an album wrote index documents %v, want %v", got, want)
	}
	title := "Renamed"
	raw, _ := json.Marshal(title)
	if _, err := s.PatchAlbum(ctx, admin, al.ID, 0, map[string]json.RawMessage{"title": raw}); err != nil {
		t.Fatal(err)
	}
	if got := indexKeys(kv.last()); len(got) != 1 {
		t.Fatalf("renaming an album wrote index documents %v", got)
	}
	ix, err := s.readIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.Albums) != 201 || len(ix.Artists) != 1 {
		t.Fatalf("the merged index holds %d albums and %d artists, want 201 and 1", len(ix.Albums), len(ix.Artists))
	}
	found := false
	for _, a := range ix.Albums {
		found = found || (a.ID == al.ID && a.Title == title)
	}
	if !found {
		t.Fatal("the renamed album's summary is not in the merged index")
	}
	// the largest shard holds a few albums, not the catalogue
	for n := range domain.IndexShards {
		sh, err := s.catalogue.Get(ctx, shardID(n))
		if err == nil && len(sh.Albums) > 20 {
			t.Fatalf("shard %d holds %d of 201 albums", n, len(sh.Albums))
		}
	}
}

// The one index document of before sharding is read until the first write
// folds it into the shards and deletes it; nothing in it is lost, and an
// entry written to a shard meanwhile wins over its old copy.
func TestTheIndexOfBeforeShardingIsFoldedIn(t *testing.T) {
	s, kv := newRecorded(t)
	ctx := context.Background()
	old := &domain.Index{Artists: []domain.ArtistSummary{{ID: "art-1", Name: "Old Band"}}}
	for i := range 30 {
		old.Albums = append(old.Albums, domain.AlbumSummary{ID: fmt.Sprintf("alb-%02d", i), ArtistID: "art-1", Title: "Old", Status: domain.Published})
	}
	if err := s.catalogue.Put(ctx, legacyIndexID, old); err != nil {
		t.Fatal(err)
	}
	ix, err := s.readIndex(ctx)
	if err != nil || len(ix.Albums) != 30 || len(ix.Artists) != 1 {
		t.Fatalf("before folding, reads see the old index: %v %+v", err, ix)
	}
	// a shard written before the fold (a newer copy of alb-07)
	newer := &domain.Index{Albums: []domain.AlbumSummary{{ID: "alb-07", ArtistID: "art-1", Title: "Newer", Status: domain.Published}}}
	if err := s.catalogue.Put(ctx, shardID(domain.IndexShard("alb-07")), newer); err != nil {
		t.Fatal(err)
	}
	if err := s.MigrateIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := kv.Memory.Get(ctx, "index|"+legacyIndexID); err == nil {
		t.Fatal("the old index document is still there after the fold")
	}
	ix, err = s.readIndex(ctx)
	if err != nil || len(ix.Albums) != 30 || len(ix.Artists) != 1 {
		t.Fatalf("after folding: %v, %d albums, %d artists", err, len(ix.Albums), len(ix.Artists))
	}
	for _, a := range ix.Albums {
		if a.ID == "alb-07" && a.Title != "Newer" {
			t.Fatalf("the old copy of alb-07 won over the shard's: %q", a.Title)
		}
	}
	writes := len(kv.writes)
	if err := s.MigrateIndex(ctx); err != nil || len(kv.writes) != writes {
		t.Fatalf("folding again wrote something: %v", err)
	}
}

// A change must name the index entries it touches: one that adds an entry
// of a shard it did not read fails instead of dropping that shard's others.
func TestAnIndexWriteOutsideItsShardsFails(t *testing.T) {
	s, _ := newRecorded(t)
	ctx := context.Background()
	a, b := "one", "two"
	for domain.IndexShard(a) == domain.IndexShard(b) {
		b += "x"
	}
	err := s.withIndex(ctx, []string{a}, func(_ *state.Tx, ix *domain.Index) error {
		ix.Albums = append(ix.Albums, domain.AlbumSummary{ID: b})
		return nil
	})
	if err == nil {
		t.Fatal("an entry of an unread shard was written")
	}
}
