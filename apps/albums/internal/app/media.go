package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/harmonia-music/harmonia/apps/albums/internal/domain"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

// A track's audio is stored as fixed-size objects through the media binding
// (any store that keeps files by name: local files, S3), plus a small
// manifest. A Range request reads only the objects it covers, and a whole
// stream is written one object at a time, so a listener costs one chunk of
// memory in albums (and in its sidecar) whatever the file's size.

// ChunkSize is the size of each stored object of a track's audio.
const ChunkSize = 256 << 10

func chunkKey(key string, i int) string { return fmt.Sprintf("%s.c/%05d", key, i) }

func manifestKey(key string) string { return key + ".c/manifest" }

// manifest is written after every chunk: a file with a manifest is whole.
type manifest struct {
	Size      int    `json:"size"`
	ChunkSize int    `json:"chunkSize"`
	Chunks    int    `json:"chunks"`
	SHA256    string `json:"sha256"`
}

// storeChunks writes data under key as chunks, then its manifest; a file
// already stored whole (its manifest matches) is not written again.
func (s *Service) storeChunks(ctx context.Context, key string, data []byte, digest string) (int, error) {
	n := (len(data) + ChunkSize - 1) / ChunkSize
	if b, err := s.media.Get(ctx, manifestKey(key)); err == nil {
		var m manifest
		if json.Unmarshal(b, &m) == nil && m.SHA256 == digest && m.Chunks == n && m.ChunkSize == ChunkSize {
			return n, nil
		}
	}
	for i := 0; i < n; i++ {
		end := min((i+1)*ChunkSize, len(data))
		if err := s.media.Put(ctx, chunkKey(key, i), data[i*ChunkSize:end]); err != nil {
			return 0, err
		}
	}
	b, _ := json.Marshal(manifest{Size: len(data), ChunkSize: ChunkSize, Chunks: n, SHA256: digest})
	return n, s.media.Put(ctx, manifestKey(key), b)
}

// chunkFile reads a stored track as one file, a chunk at a time: it holds
// one chunk in memory. head, when set, replaces the first bytes (a
// preview's rewritten WAV header); size may be shorter than the file (a
// preview).
type chunkFile struct {
	ctx       context.Context
	media     Media
	key       string
	size      int64
	chunkSize int64
	head      []byte
	pos       int64
	idx       int // the chunk in cur, -1 for none
	cur       []byte
	// Fetched counts the chunks read (tests, and the memory bound).
	Fetched int
}

func newChunkFile(ctx context.Context, m Media, a domain.Audio, size int64) *chunkFile {
	return &chunkFile{ctx: ctx, media: m, key: a.Key, size: size, chunkSize: int64(a.ChunkSize), idx: -1}
}

// chunk returns chunk i, read once while it is the current one.
func (f *chunkFile) chunk(i int) ([]byte, error) {
	if i == f.idx {
		return f.cur, nil
	}
	b, err := f.media.Get(f.ctx, chunkKey(f.key, i))
	if err != nil {
		return nil, err
	}
	f.idx, f.cur = i, b
	f.Fetched++
	return b, nil
}

func (f *chunkFile) Read(p []byte) (int, error) {
	if f.pos >= f.size {
		return 0, io.EOF
	}
	if f.pos < int64(len(f.head)) {
		n := copy(p, f.head[f.pos:min(int64(len(f.head)), f.size)])
		f.pos += int64(n)
		return n, nil
	}
	i := int(f.pos / f.chunkSize)
	b, err := f.chunk(i)
	if err != nil {
		return 0, err
	}
	off := f.pos - int64(i)*f.chunkSize
	if off >= int64(len(b)) {
		return 0, io.ErrUnexpectedEOF // a chunk shorter than the manifest says
	}
	end := min(int64(len(b)), f.size-int64(i)*f.chunkSize)
	n := copy(p, b[off:end])
	f.pos += int64(n)
	return n, nil
}

func (f *chunkFile) Seek(offset int64, whence int) (int64, error) {
	var to int64
	switch whence {
	case io.SeekStart:
		to = offset
	case io.SeekCurrent:
		to = f.pos + offset
	case io.SeekEnd:
		to = f.size + offset
	default:
		return 0, errors.New("chunkFile: bad whence")
	}
	if to < 0 {
		return 0, errors.New("chunkFile: negative position")
	}
	f.pos = to
	return to, nil
}

// MigrateAudio stores, in chunks, every track whose audio is still one
// object (stored before chunking). It runs at start; a track done already,
// or changed meanwhile, is left alone, so it may run again at any time.
func (s *Service) MigrateAudio(ctx context.Context) (int, error) {
	ix, err := s.readIndex(ctx)
	if err != nil {
		return 0, err
	}
	done := 0
	for _, sum := range ix.Albums {
		al, err := s.albums.Get(ctx, sum.ID)
		if err != nil {
			if errors.Is(err, domain.ErrAlbumNotFound) {
				continue
			}
			return done, err
		}
		tracks, err := s.tracks.GetMany(ctx, al.TrackIDs)
		if err != nil {
			return done, err
		}
		for _, t := range tracks {
			if t.Audio == nil || t.Audio.ChunkSize > 0 {
				continue
			}
			if err := s.migrateTrack(ctx, t); err != nil {
				return done, fmt.Errorf("track %s: %w", t.ID, err)
			}
			done++
		}
	}
	if done > 0 {
		platform.Logger(ctx).Info("audio stored in chunks", slog.Int("tracks", done))
	}
	return done, nil
}

func (s *Service) migrateTrack(ctx context.Context, t *domain.Track) error {
	old := *t.Audio
	data, err := s.media.Get(ctx, old.Key)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != old.SHA256 {
		return fmt.Errorf("the stored file does not match its digest")
	}
	info, err := domain.ProbeAudio(data)
	if err != nil {
		return err
	}
	n, err := s.storeChunks(ctx, old.Key, data, old.SHA256)
	if err != nil {
		return err
	}
	_, err = s.tracks.Update(ctx, t.ID, func(tr *domain.Track) error {
		if tr.Audio == nil || tr.Audio.SHA256 != old.SHA256 || tr.Audio.ChunkSize > 0 {
			return state.Unchanged // replaced or migrated meanwhile
		}
		tr.Audio.ChunkSize, tr.Audio.Chunks, tr.Audio.DataStart, tr.Audio.BlockAlign = ChunkSize, n, info.DataStart, info.BlockAlign
		return nil
	})
	s.forget()
	return err
}
