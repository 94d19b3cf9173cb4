package app

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/apps/albums/internal/domain"
	"github.com/harmonia-music/harmonia/internal/synth"
)

// countingMedia counts reads and the largest one.
type countingMedia struct {
	*memMedia
	gets, largest int
}

func (c *countingMedia) Get(ctx context.Context, k string) ([]byte, error) {
	b, err := c.memMedia.Get(ctx, k)
	c.gets++
	c.largest = max(c.largest, len(b))
	return b, err
}

// a 40 s track at 44.1 kHz: about 1.8 MB, 7 chunks
func chunkedTrack(t *testing.T) (*fixture, *countingMedia, *domain.Track, []byte) {
	t.Helper()
	f := setup(t)
	cm := &countingMedia{memMedia: f.media}
	f.s.media = cm
	f.s.cfg.MaxAudioBytes = 8 << 20
	ctx := context.Background()
	al, err := f.s.CreateAlbum(ctx, f.owner, domain.Album{ArtistID: f.artist.ID, Title: "Long", Genre: "jazz", ReleaseDate: "2024-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := f.s.AddTrack(ctx, f.owner, al.ID, domain.Track{Title: "T", TrackNumber: 1})
	if err != nil {
		t.Fatal(err)
	}
	wav := synth.WAV(7, 40, 44100)
	if tr, err = f.s.UploadAudio(ctx, f.owner, tr.ID, wav); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Publish(ctx, f.owner, al.ID); err != nil {
		t.Fatal(err)
	}
	return f, cm, tr, wav
}

func TestAudioIsStoredInChunksAndStreamedOneChunkAtATime(t *testing.T) {
	f, cm, tr, wav := chunkedTrack(t)
	a := tr.Audio
	if a.ChunkSize != ChunkSize || a.Chunks != (len(wav)+ChunkSize-1)/ChunkSize || a.Chunks < 6 {
		t.Fatalf("stored as %d chunks of %d (file %d bytes)", a.Chunks, a.ChunkSize, len(wav))
	}
	for k, b := range f.media.files {
		if len(b) > ChunkSize {
			t.Fatalf("%s holds %d bytes, more than a chunk", k, len(b))
		}
	}
	if _, ok := f.media.files[a.Key]; ok {
		t.Fatal("the whole file was stored too")
	}
	f.ents.full = true
	ctx := context.Background()

	// a whole stream reads every chunk once, none larger than a chunk
	st, err := f.s.Stream(ctx, f.fan, tr.ID)
	if err != nil || st.Preview || st.Size != int64(len(wav)) {
		t.Fatalf("stream: %v preview=%v size %d", err, st.Preview, st.Size)
	}
	cm.gets, cm.largest = 0, 0
	got, err := io.ReadAll(st.Body)
	if err != nil || !bytes.Equal(got, wav) {
		t.Fatalf("the stream differs from the file (%v)", err)
	}
	if cm.gets != a.Chunks || cm.largest > ChunkSize {
		t.Fatalf("a whole stream read %d objects (largest %d), want %d chunks", cm.gets, cm.largest, a.Chunks)
	}

	// a range in the middle reads only the chunk it covers
	st, _ = f.s.Stream(ctx, f.fan, tr.ID)
	cm.gets = 0
	from := int64(5*ChunkSize + 1000)
	if _, err := st.Body.Seek(from, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	part := make([]byte, 16<<10)
	if _, err := io.ReadFull(st.Body, part); err != nil || !bytes.Equal(part, wav[from:from+int64(len(part))]) {
		t.Fatalf("range read: %v", err)
	}
	if cm.gets != 1 {
		t.Fatalf("a 16 KiB range read %d chunks, want 1", cm.gets)
	}
	// the size comes from a seek to the end, reading nothing
	cm.gets = 0
	if n, _ := st.Body.Seek(0, io.SeekEnd); n != int64(len(wav)) || cm.gets != 0 {
		t.Fatalf("seek to the end: %d, %d reads", n, cm.gets)
	}
}

func TestAChunkedPreviewIsTheSameFileCutFromTheFirstChunks(t *testing.T) {
	f, cm, tr, wav := chunkedTrack(t)
	f.s.cfg.PreviewLength = 10 * time.Second
	cm.gets = 0
	st, err := f.s.Stream(context.Background(), f.fan, tr.ID) // no plan: a preview
	if err != nil || !st.Preview {
		t.Fatalf("%v %v", err, st.Preview)
	}
	got, err := io.ReadAll(st.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := domain.Preview(wav, tr.Audio.Info(), 10*time.Second)
	if !bytes.Equal(got, want) || len(got) >= len(wav)/3 {
		t.Fatalf("preview: %d bytes, the whole-file cut %d (file %d)", len(got), len(want), len(wav))
	}
	if info, err := domain.ProbeAudio(got); err != nil || info.Duration > 10*time.Second || info.Duration < 9*time.Second {
		t.Fatalf("the preview is not a 10 s WAV: %v %v", info.Duration, err)
	}
	if need := (len(want) + ChunkSize - 1) / ChunkSize; cm.gets > need {
		t.Fatalf("a %d-byte preview read %d chunks, want at most %d", len(want), cm.gets, need)
	}
}

func TestTracksStoredWholeAreMigratedToChunksOnce(t *testing.T) {
	f, cm, tr, wav := chunkedTrack(t)
	ctx := context.Background()
	// make it look like a track stored before chunking: one object, no chunk fields
	for k := range f.media.files {
		if strings.Contains(k, ".c/") {
			delete(f.media.files, k)
		}
	}
	f.media.files[tr.Audio.Key] = wav
	if _, err := f.s.tracks.Update(ctx, tr.ID, func(x *domain.Track) error {
		x.Audio.ChunkSize, x.Audio.Chunks, x.Audio.DataStart, x.Audio.BlockAlign = 0, 0, 0, 0
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f.ents.full = true
	if st, err := f.s.Stream(ctx, f.fan, tr.ID); err != nil || st.Size != int64(len(wav)) {
		t.Fatalf("a whole-file track streams before migration: %v", err)
	}
	n, err := f.s.MigrateAudio(ctx)
	if err != nil || n != 1 {
		t.Fatalf("migrated %d: %v", n, err)
	}
	after, _ := f.s.tracks.Get(ctx, tr.ID)
	if after.Audio.ChunkSize != ChunkSize || after.Audio.Chunks == 0 || after.Audio.DataStart == 0 {
		t.Fatalf("after migration: %+v", after.Audio)
	}
	st, _ := f.s.Stream(ctx, f.fan, tr.ID)
	cm.gets = 0
	got, _ := io.ReadAll(st.Body)
	if !bytes.Equal(got, wav) || cm.gets != after.Audio.Chunks {
		t.Fatalf("after migration the stream differs or read %d objects", cm.gets)
	}
	if n, err := f.s.MigrateAudio(ctx); err != nil || n != 0 {
		t.Fatalf("a second migration did %d: %v", n, err)
	}
}
