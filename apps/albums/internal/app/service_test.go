package app

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/apps/albums/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/fault"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
	"github.com/harmonia-music/harmonia/internal/platform/state"
	"github.com/harmonia-music/harmonia/internal/synth"
)

type memMedia struct {
	mu    sync.Mutex
	files map[string][]byte
}

func (m *memMedia) Put(_ context.Context, k string, d []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[k] = append([]byte(nil), d...)
	return nil
}

func (m *memMedia) Get(_ context.Context, k string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.files[k]
	if !ok {
		return nil, errors.New("no file")
	}
	return d, nil
}

type ents struct {
	full  bool
	err   error
	calls int
}

func (e *ents) FullAccess(context.Context, string) (bool, error) { e.calls++; return e.full, e.err }

type fixture struct {
	s      *Service
	kv     *state.Memory
	media  *memMedia
	ents   *ents
	pub    *pubsub.Memory
	admin  domain.Viewer
	owner  domain.Viewer
	fan    domain.Viewer
	artist *domain.Artist
}

func setup(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{kv: state.NewMemory(), media: &memMedia{files: map[string][]byte{}}, ents: &ents{}, pub: &pubsub.Memory{},
		admin: domain.Viewer{UserID: "a", IsAdmin: true}, owner: domain.Viewer{UserID: "01930000-0000-7000-8000-0000000000b1"},
		fan: domain.Viewer{UserID: "fan"}}
	f.s = New(Config{PreviewLength: 30 * time.Second, MaxAudioBytes: 1 << 20, EntitlementWait: time.Second,
		IndexStaleness: 0, EntitlementCache: time.Minute}, f.kv, f.media, f.ents, nil, f.pub, nil)
	a, err := f.s.CreateArtist(context.Background(), f.admin, domain.Artist{Name: "Band", Genres: []string{"Jazz"}, OwnerUserID: f.owner.UserID})
	if err != nil {
		t.Fatal(err)
	}
	f.artist = a
	return f
}

func (f *fixture) album(t *testing.T, seconds float64) (*domain.Album, *domain.Track) {
	t.Helper()
	ctx := context.Background()
	al, err := f.s.CreateAlbum(ctx, f.owner, domain.Album{ArtistID: f.artist.ID, Title: "A", Genre: "jazz", ReleaseDate: "2024-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := f.s.AddTrack(ctx, f.owner, al.ID, domain.Track{Title: "T", TrackNumber: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Publish(ctx, f.owner, al.ID); !errors.Is(err, domain.ErrEmptyAlbum) {
		t.Fatalf("published without audio: %v", err)
	}
	if _, err := f.s.UploadAudio(ctx, f.owner, tr.ID, synth.WAV(1, seconds, 8000)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Publish(ctx, f.owner, al.ID); err != nil {
		t.Fatal(err)
	}
	return al, tr
}

func TestStreamFallsBackToPreview(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	_, tr := f.album(t, 40)
	full := len(synth.WAV(1, 40, 8000))

	f.ents.err = platform.E(platform.KindUnavailable, "down", "subscriptions is down")
	st, err := f.s.Stream(ctx, f.fan, tr.ID)
	if err != nil || !st.Preview || int(st.Size) >= full || st.PreviewLength != f.s.cfg.PreviewLength {
		t.Fatalf("subscriptions down must mean a preview of the configured length: %v %v %d %v", err, st.Preview, int(st.Size), st.PreviewLength)
	}
	f.ents.err, f.ents.full = nil, true
	st, _ = f.s.Stream(ctx, f.fan, tr.ID)
	if st.Preview || int(st.Size) != full {
		t.Fatal("a paid plan must hear the whole track")
	}
	calls := f.ents.calls
	f.s.Stream(ctx, f.fan, tr.ID)
	if f.ents.calls != calls {
		t.Fatal("entitlement not cached")
	}
	st, _ = f.s.Stream(ctx, f.owner, tr.ID)
	if st.Preview {
		t.Fatal("the artist's own account hears everything")
	}
}

func TestUploadChecksTheBytes(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	_, tr := f.album(t, 2)
	if _, err := f.s.UploadAudio(ctx, f.owner, tr.ID, []byte("RIFF....WAVEnope")); platform.StatusOf(err) != 415 {
		t.Fatal(err)
	}
	if _, err := f.s.UploadAudio(ctx, f.owner, tr.ID, make([]byte, 2<<20)); platform.StatusOf(err) != 413 {
		t.Fatal(err)
	}
	if _, err := f.s.UploadAudio(ctx, f.fan, tr.ID, synth.WAV(2, 1, 8000)); platform.StatusOf(err) != 403 {
		t.Fatal(err)
	}
	files := len(f.media.files)
	if _, err := f.s.UploadAudio(ctx, f.owner, tr.ID, synth.WAV(1, 2, 8000)); err != nil || len(f.media.files) != files {
		t.Fatal("the same file again must not be stored twice", err)
	}
}

func TestDraftsAndListing(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	draft, err := f.s.CreateAlbum(ctx, f.owner, domain.Album{ArtistID: f.artist.ID, Title: "Draft", Genre: "jazz", ReleaseDate: "2025-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := f.album(t, 2)
	if _, err := f.s.Album(ctx, f.fan, draft.ID); !errors.Is(err, domain.ErrAlbumNotFound) {
		t.Fatal("draft visible to a fan")
	}
	p, _ := f.s.Albums(ctx, f.fan, domain.AlbumQuery{})
	if len(p.Items) != 1 || p.Items[0].ID != pub.ID {
		t.Fatalf("fan list: %+v", p.Items)
	}
	p, _ = f.s.Albums(ctx, f.owner, domain.AlbumQuery{Sort: "new"})
	if len(p.Items) != 2 || p.Items[0].ID != draft.ID {
		t.Fatalf("owner list: %+v", p.Items)
	}
	if _, err := f.s.CreateAlbum(ctx, f.fan, domain.Album{ArtistID: f.artist.ID, Title: "X", Genre: "jazz", ReleaseDate: "2025-01-01"}); !errors.Is(err, domain.ErrNotYours) {
		t.Fatal(err)
	}
	if got := f.pub.Topics(); got[len(got)-1] != "album.published" {
		t.Fatal(got)
	}
	// the cached view of a published album follows this replica's writes at once
	f.s.cfg.IndexStaleness = time.Hour
	if v, _ := f.s.Album(ctx, f.fan, pub.ID); v.Title != "A" {
		t.Fatal(v.Title)
	}
	if _, err := f.s.PatchAlbum(ctx, f.owner, pub.ID, 0, map[string]json.RawMessage{"title": json.RawMessage(`"Renamed"`)}); err != nil {
		t.Fatal(err)
	}
	if v, _ := f.s.Album(ctx, f.fan, pub.ID); v.Title != "Renamed" {
		t.Fatalf("stale view after a write: %q", v.Title)
	}
}

func TestImportIsIdempotentAndKeepsAudio(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	id := func(n int) string {
		return "01930000-0000-7000-8000-0000000001" + string(rune('0'+n/10)) + string(rune('0'+n%10))
	}
	b := ImportBatch{Artists: []domain.Artist{{ID: id(1), Name: "Imported"}},
		Albums: []ImportAlbum{{ID: id(2), ArtistID: id(1), Title: "Back catalogue", Genre: "Soul", ReleaseDate: "1971-05-21",
			Tracks: []domain.Track{{ID: id(3), Title: "One", TrackNumber: 1}}}}}
	if _, err := f.s.Import(ctx, f.fan, b); platform.StatusOf(err) != 403 {
		t.Fatal(err)
	}
	if _, err := f.s.Import(ctx, f.admin, b); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.UploadAudio(ctx, f.admin, id(3), synth.WAV(9, 1, 8000)); err != nil {
		t.Fatal(err)
	}
	b.Albums[0].Published = true
	res, err := f.s.Import(ctx, f.admin, b)
	if err != nil || res.Published != 1 {
		t.Fatal(res, err)
	}
	res, _ = f.s.Import(ctx, f.admin, b)
	if res.Published != 0 {
		t.Fatal("re-import published again")
	}
	tr, err := f.s.Track(ctx, f.fan, id(3))
	if err != nil || tr.Audio == nil {
		t.Fatal("import dropped the uploaded audio", err)
	}
	ix, _ := f.s.readIndex(ctx)
	if len(ix.Artists) != 2 || len(ix.Albums) != 1 {
		t.Fatalf("index after three imports: %d artists, %d albums", len(ix.Artists), len(ix.Albums))
	}
}

func TestPlaysFlushIntoTrending(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	a, _ := f.album(t, 2)
	b, _ := f.album(t, 2)
	for i := 0; i < 3; i++ {
		f.s.CountPlay(a.ID)
	}
	f.kv.FailNext = errors.New("store down")
	if err := f.s.FlushPlays(ctx); err == nil {
		t.Fatal("flush error hidden")
	}
	if err := f.s.FlushPlays(ctx); err != nil { // the counts survived the failure
		t.Fatal(err)
	}
	p, _ := f.s.Albums(ctx, f.fan, domain.AlbumQuery{Sort: "trending"})
	if len(p.Items) != 2 || p.Items[0].ID != a.ID || p.Items[1].ID != b.ID {
		t.Fatalf("trending: %+v", p.Items)
	}
}

// A deleted account no longer manages its artist: no trace of its id is
// left in the artist or the index, admins still can, and a redelivered
// user.deleted changes nothing.
func TestDeletedOwnerIsDetachedFromTheArtist(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	for range 2 {
		if err := f.s.ForgetOwner(ctx, f.owner.UserID); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range f.kv.Dump() {
		if strings.Contains(string(v), f.owner.UserID) {
			t.Fatalf("%s still names the deleted owner: %s", k, v)
		}
	}
	if _, err := f.s.CreateAlbum(ctx, f.owner, domain.Album{ArtistID: f.artist.ID, Title: "A", Genre: "jazz", ReleaseDate: "2024-01-01"}); !errors.Is(err, domain.ErrNotYours) {
		t.Fatalf("the deleted owner still manages the artist: %v", err)
	}
	if _, err := f.s.CreateAlbum(ctx, f.admin, domain.Album{ArtistID: f.artist.ID, Title: "A", Genre: "jazz", ReleaseDate: "2024-01-01"}); err != nil {
		t.Fatal(err)
	}
}

// Renaming an artist: its own account or an admin may, nobody else; a bad
// name is a problem naming the field and changes nothing; a stale version
// is refused; two renames at once both land, one version apart, each
// announced with its version (search orders them by it).
func TestPatchArtist(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	name := func(s string) *string { return &s }
	if _, err := f.s.PatchArtist(ctx, f.fan, f.artist.ID, 0, name("Stolen"), nil); !errors.Is(err, domain.ErrNotYours) {
		t.Fatalf("another user renamed the artist: %v", err)
	}
	_, err := f.s.PatchArtist(ctx, f.owner, f.artist.ID, 0, name(""), nil)
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.KindInvalid || len(fe.Fields) != 1 || fe.Fields[0].Field != "name" {
		t.Fatalf("empty name: %#v", err)
	}
	if _, err := f.s.PatchArtist(ctx, f.owner, f.artist.ID, 0, nil, nil); platform.StatusOf(err) != 400 {
		t.Fatalf("empty patch: %v", err)
	}
	if a, _ := f.s.Artist(ctx, f.artist.ID); a.Name != "Band" || a.CurrentVersion() != 1 {
		t.Fatalf("a refused change was applied: %+v", a)
	}
	if _, err := f.s.PatchArtist(ctx, f.owner, f.artist.ID, 7, name("Late"), nil); platform.StatusOf(err) != 412 {
		t.Fatalf("stale If-Match: %v", err)
	}
	var wg sync.WaitGroup
	for _, n := range []string{"One", "Two"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.s.PatchArtist(ctx, f.admin, f.artist.ID, 0, name(n), []string{"Rock"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	a, _ := f.s.Artist(ctx, f.artist.ID)
	if a.CurrentVersion() != 3 {
		t.Fatalf("two renames at once: version %d, want 3", a.CurrentVersion())
	}
	var versions []int
	for _, p := range f.pub.Events {
		if e, ok := p.Data.(events.ArtistUpdated); ok {
			versions = append(versions, e.Version)
		}
	}
	if len(versions) != 2 || versions[0] == versions[1] {
		t.Fatalf("artist.updated versions: %v", versions)
	}
	page, _ := f.s.Artists(ctx, 10, "")
	if len(page.Items) != 1 || page.Items[0].Name != a.Name {
		t.Fatalf("the index still lists the old name: %+v", page.Items)
	}
}

type profiles struct{ l Listener }

func (p profiles) Listener(context.Context, string) (Listener, error) { return p.l, nil }

// A play commits through the outbox (with a record of it) and carries the
// album's genre, the device and the listener's country and age band; when
// the store refuses, it is published directly.
func TestAPlayGoesOutThroughTheOutboxWithWhatAnalyticsGroupsBy(t *testing.T) {
	f := setup(t)
	f.s.profiles = profiles{Listener{Country: "NZ", BirthYear: time.Now().Year() - 30}}
	ctx := context.Background()
	_, tr := f.album(t, 5)
	st, err := f.s.Stream(ctx, f.fan, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	f.s.Played(ctx, f.fan, st, "mobile")
	if len(f.kv.Events) == 0 {
		t.Fatal("the play did not go through the outbox")
	}
	e := f.kv.Events[len(f.kv.Events)-1].Data.(events.TrackPlayed)
	if e.PlayID == "" || e.Genre != "jazz" || e.Device != "mobile" || e.Country != "NZ" || e.AgeBand != "25-34" || e.TrackID != tr.ID {
		t.Fatalf("play: %+v", e)
	}
	before := len(f.pub.Events)
	f.kv.FailNext = errors.New("store away")
	f.s.Played(ctx, f.fan, st, "web")
	if len(f.pub.Events) != before+1 || f.pub.Events[before].Topic != events.TopicTrackPlayed {
		t.Fatal("a play the store refused was not published directly")
	}
}
