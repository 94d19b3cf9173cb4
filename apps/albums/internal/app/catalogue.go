package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/harmonia-music/harmonia/apps/albums/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/audit"
	"github.com/harmonia-music/harmonia/internal/platform/fault"
	"github.com/harmonia-music/harmonia/internal/platform/state"
	"github.com/harmonia-music/harmonia/internal/platform/validate"
)

// withIndex commits fn's writes together with the index change it makes,
// starting over when another write moved the index (or anything fn read)
// in between. The index is IndexShards documents; fn sees the merged
// shards of ids (the artists and albums it may add or change) and only
// those are written, so a write touches O(1) small documents. The one
// document of before sharding, while it is still there, is folded into
// the shards first (then every shard is read and written, once).
func (s *Service) withIndex(ctx context.Context, ids []string, fn func(tx *state.Tx, ix *domain.Index) error) error {
	defer s.forget()
	return state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		legacy, err := s.catalogue.Read(ctx, tx, legacyIndexID)
		if err != nil && !errors.Is(err, state.ErrNotFound) {
			return err
		}
		shards := map[int]bool{}
		for _, id := range ids {
			shards[domain.IndexShard(id)] = true
		}
		if legacy != nil {
			for n := range domain.IndexShards {
				shards[n] = true
			}
		}
		keys := make([]string, 0, len(shards))
		for n := range shards {
			keys = append(keys, shardID(n))
		}
		slices.Sort(keys)
		stored, err := s.catalogue.ReadMany(ctx, tx, keys)
		if err != nil {
			return err
		}
		ix := mergeIndex(legacy, slices.Collect(maps.Values(stored)))
		if err := fn(tx, ix); err != nil {
			return err
		}
		split := ix.Split()
		for n := range split {
			if !shards[n] {
				return fmt.Errorf("catalogue index: an entry of shard %d was written, which was not read (ids %v)", n, ids)
			}
		}
		for n := range shards {
			sh := split[n]
			if sh == nil {
				sh = &domain.Index{Artists: []domain.ArtistSummary{}, Albums: []domain.AlbumSummary{}}
			}
			if err := s.catalogue.Write(tx, shardID(n), sh); err != nil {
				return err
			}
		}
		if legacy != nil {
			s.catalogue.Remove(tx, legacyIndexID)
		}
		return nil
	})
}

// mergeIndex is the index the shards and the document of before sharding
// (nil once folded) make together: a shard's entry wins over the old one.
func mergeIndex(legacy *domain.Index, shards []*domain.Index) *domain.Index {
	ix := &domain.Index{Artists: []domain.ArtistSummary{}, Albums: []domain.AlbumSummary{}}
	for _, sh := range shards {
		ix.Merge(sh)
	}
	if legacy != nil {
		artists, albums := map[string]bool{}, map[string]bool{}
		for _, a := range ix.Artists {
			artists[a.ID] = true
		}
		for _, a := range ix.Albums {
			albums[a.ID] = true
		}
		for _, a := range legacy.Artists {
			if !artists[a.ID] {
				ix.Artists = append(ix.Artists, a)
			}
		}
		for _, a := range legacy.Albums {
			if !albums[a.ID] {
				ix.Albums = append(ix.Albums, a)
			}
		}
	}
	ix.Sort()
	return ix
}

// MigrateIndex folds the catalogue index of before sharding into its
// shards (at start; nothing to do once done).
func (s *Service) MigrateIndex(ctx context.Context) error {
	return s.withIndex(ctx, nil, func(*state.Tx, *domain.Index) error { return nil })
}

// CreateArtist adds an artist (admins only).
func (s *Service) CreateArtist(ctx context.Context, v domain.Viewer, a domain.Artist) (*domain.Artist, error) {
	if !v.IsAdmin {
		return nil, fault.E(fault.KindForbidden, "forbidden", "only an admin creates artists")
	}
	if err := domain.ValidateArtist(&a); err != nil {
		return nil, err
	}
	a.ID, a.CreatedAt, a.Version = newID(), s.now().UTC(), 1
	if a.Genres == nil {
		a.Genres = []string{}
	}
	err := s.withIndex(ctx, []string{a.ID}, func(tx *state.Tx, ix *domain.Index) error {
		ix.Artists = append(ix.Artists, domain.ArtistSummary{ID: a.ID, Name: a.Name, Genres: a.Genres, OwnerUserID: a.OwnerUserID})
		return s.artists.Insert(tx, a.ID, &a)
	})
	if err != nil {
		return nil, err
	}
	s.publish(ctx, artistCreated(&a))
	return &a, nil
}

func artistCreated(a *domain.Artist) events.ArtistCreated {
	return events.ArtistCreated{ArtistID: a.ID, Name: a.Name, Genres: a.Genres, Version: a.CurrentVersion(), CreatedAt: a.CreatedAt}
}

// PatchArtist renames an artist or changes its genres (its account or an
// admin), at version ifMatch when given; artist.updated carries the new
// version.
func (s *Service) PatchArtist(ctx context.Context, v domain.Viewer, id string, ifMatch int, name *string, genres []string) (*domain.Artist, error) {
	if m := validate.ID(id); m != "" {
		return nil, fault.Invalid("id", m)
	}
	if name == nil && genres == nil {
		return nil, fault.Invalid("body", "name at least one field to change")
	}
	if _, err := s.managedArtist(ctx, v, id); err != nil {
		return nil, err
	}
	var out *domain.Artist
	err := s.withIndex(ctx, []string{id}, func(tx *state.Tx, ix *domain.Index) error {
		a, err := s.artists.Read(ctx, tx, id)
		if err != nil {
			return err
		}
		if ifMatch != 0 && a.CurrentVersion() != ifMatch {
			return state.ErrPrecondition
		}
		if name != nil {
			a.Name = *name
		}
		if genres != nil {
			a.Genres = slices.Clone(genres)
		}
		if err := domain.ValidateArtist(a); err != nil {
			return err
		}
		now := s.now().UTC()
		a.Version, a.UpdatedAt = a.CurrentVersion()+1, &now
		for i := range ix.Artists {
			if ix.Artists[i].ID == id {
				ix.Artists[i].Name, ix.Artists[i].Genres = a.Name, a.Genres
			}
		}
		out = a
		return s.artists.Write(tx, id, a)
	})
	if err != nil {
		return nil, err
	}
	s.publish(ctx, events.ArtistUpdated{ArtistID: out.ID, Name: out.Name, Genres: out.Genres, Version: out.Version, UpdatedAt: *out.UpdatedAt})
	return out, nil
}

// albumFacts are what every album.* event carries of a: the album, its
// artist's name (name; read when "") and its tracks.
func albumFacts(a *domain.Album, name string, tracks []*domain.Track) events.Album {
	facts := events.Album{AlbumID: a.ID, ArtistID: a.ArtistID, ArtistName: name, Title: a.Title, Genre: a.Genre,
		ReleaseDate: a.ReleaseDate, Version: a.Version, Tracks: make([]events.TrackFacts, 0, len(tracks))}
	for _, t := range tracks {
		f := events.TrackFacts{TrackID: t.ID, Title: t.Title, Number: t.TrackNumber}
		if t.Audio != nil {
			f.DurationMs = t.Audio.DurationMs
		}
		facts.Tracks = append(facts.Tracks, f)
	}
	return facts
}

// storedFacts reads an album's artist name and tracks for its event.
func (s *Service) storedFacts(ctx context.Context, a *domain.Album) events.Album {
	name := ""
	if ar, err := s.artists.Get(ctx, a.ArtistID); err == nil {
		name = ar.Name
	}
	tracks, err := s.tracks.GetMany(ctx, a.TrackIDs)
	if err != nil {
		platform.Logger(ctx).Warn("album event without its tracks", slog.String("album_id", a.ID), slog.String("error", err.Error()))
	}
	return albumFacts(a, name, tracks)
}

func (s *Service) albumPublished(ctx context.Context, a *domain.Album) events.AlbumPublished {
	var at time.Time
	if a.PublishedAt != nil {
		at = *a.PublishedAt
	}
	return events.AlbumPublished{Album: s.storedFacts(ctx, a), TrackCount: len(a.TrackIDs), PublishedAt: at}
}

// managedArtist loads the artist and checks that v manages it.
func (s *Service) managedArtist(ctx context.Context, v domain.Viewer, artistID string) (*domain.Artist, error) {
	a, err := s.artists.Get(ctx, artistID)
	if err != nil {
		return nil, err
	}
	if !v.Manages(a) {
		return nil, domain.ErrNotYours
	}
	return a, nil
}

// CreateAlbum adds a draft album to an artist the viewer manages.
func (s *Service) CreateAlbum(ctx context.Context, v domain.Viewer, al domain.Album) (*domain.Album, error) {
	var val fault.Validation
	if m := validate.ID(al.ArtistID); m != "" {
		val.Add("artistId", "%s", m)
	}
	if err := domain.ValidateAlbum(&al); err != nil {
		return nil, err
	}
	if err := val.Err(); err != nil {
		return nil, err
	}
	if _, err := s.managedArtist(ctx, v, al.ArtistID); err != nil {
		if errors.Is(err, domain.ErrArtistNotFound) {
			return nil, fault.Invalid("artistId", "no such artist")
		}
		return nil, err
	}
	now := s.now().UTC()
	al.ID, al.Status, al.TrackIDs, al.Version, al.CreatedAt, al.UpdatedAt = newID(), domain.Draft, []string{}, 1, now, now
	err := s.withIndex(ctx, []string{al.ID}, func(tx *state.Tx, ix *domain.Index) error {
		ix.PutAlbum(al.Summary())
		return s.albums.Insert(tx, al.ID, &al)
	})
	return &al, err
}

// changeAlbum applies fn to the stored album (read again within the
// transaction) and commits it, one version up, with its index entry and
// fn's other writes; a concurrent write makes withIndex start over.
func (s *Service) changeAlbum(ctx context.Context, id string, fn func(tx *state.Tx, a *domain.Album) error) (*domain.Album, error) {
	var out *domain.Album
	err := s.withIndex(ctx, []string{id}, func(tx *state.Tx, ix *domain.Index) error {
		cur, err := s.albums.Read(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := fn(tx, cur); err != nil {
			return err
		}
		cur.Version++
		cur.UpdatedAt = s.now().UTC()
		ix.PutAlbum(cur.Summary())
		out = cur
		return s.albums.Write(tx, id, cur)
	})
	return out, err
}

// PatchAlbum changes title, genre or release date if the album is still at
// version ifMatch (when given).
func (s *Service) PatchAlbum(ctx context.Context, v domain.Viewer, id string, ifMatch int, patch map[string]json.RawMessage) (*domain.Album, error) {
	al, _, err := s.visibleAlbum(ctx, v, id)
	if err != nil {
		return nil, err
	}
	if _, err := s.managedArtist(ctx, v, al.ArtistID); err != nil {
		return nil, err
	}
	updated, err := s.changeAlbum(ctx, id, func(_ *state.Tx, cur *domain.Album) error {
		if ifMatch != 0 && cur.Version != ifMatch {
			return state.ErrPrecondition
		}
		return applyAlbumPatch(cur, patch)
	})
	if err != nil {
		return nil, err
	}
	if updated.Status == domain.Published {
		s.publish(ctx, events.AlbumUpdated{Album: s.storedFacts(ctx, updated), UpdatedAt: updated.UpdatedAt})
	}
	return updated, nil
}

func applyAlbumPatch(a *domain.Album, patch map[string]json.RawMessage) error {
	if len(patch) == 0 {
		return fault.Invalid("body", "name at least one field to change")
	}
	var v fault.Validation
	for k, raw := range patch {
		var dst *string
		switch k {
		case "title":
			dst = &a.Title
		case "genre":
			dst = &a.Genre
		case "releaseDate":
			dst = &a.ReleaseDate
		default:
			v.Add(k, "is not a field you can change")
			continue
		}
		if json.Unmarshal(raw, dst) != nil {
			v.Add(k, "must be a string")
		}
	}
	if err := v.Err(); err != nil {
		return err
	}
	return domain.ValidateAlbum(a)
}

// AddTrack adds a track to a draft album.
func (s *Service) AddTrack(ctx context.Context, v domain.Viewer, albumID string, t domain.Track) (*domain.Track, error) {
	if err := domain.ValidateTrack(&t); err != nil {
		return nil, err
	}
	al, _, err := s.visibleAlbum(ctx, v, albumID)
	if err != nil {
		return nil, err
	}
	if _, err := s.managedArtist(ctx, v, al.ArtistID); err != nil {
		return nil, err
	}
	t.ID, t.AlbumID, t.ArtistID, t.CreatedAt = newID(), albumID, al.ArtistID, s.now().UTC()
	_, err = s.changeAlbum(ctx, albumID, func(tx *state.Tx, cur *domain.Album) error {
		if cur.Status == domain.Published {
			return domain.ErrPublished
		}
		others, err := s.tracks.GetMany(ctx, cur.TrackIDs)
		if err != nil {
			return err
		}
		for _, other := range others {
			if other.TrackNumber == t.TrackNumber {
				return domain.ErrTrackNumber
			}
		}
		cur.TrackIDs = append(cur.TrackIDs, t.ID)
		return s.tracks.Insert(tx, t.ID, &t)
	})
	return &t, err
}

// Publish makes a draft visible to listeners; publishing twice is a no-op.
func (s *Service) Publish(ctx context.Context, v domain.Viewer, albumID string) (*domain.Album, error) {
	al, _, err := s.visibleAlbum(ctx, v, albumID)
	if err != nil {
		return nil, err
	}
	if _, err := s.managedArtist(ctx, v, al.ArtistID); err != nil {
		return nil, err
	}
	if al.Status == domain.Published {
		return al, nil
	}
	tracks, err := s.tracks.GetMany(ctx, al.TrackIDs)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(tracks, func(t *domain.Track) bool { return t.Audio != nil }) {
		return nil, domain.ErrEmptyAlbum
	}
	out, err := s.changeAlbum(ctx, albumID, func(_ *state.Tx, cur *domain.Album) error {
		now := s.now().UTC()
		cur.Status, cur.PublishedAt = domain.Published, &now
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.publish(ctx, s.albumPublished(ctx, out))
	s.Audit.Record(ctx, audit.Record{Action: "album.published", Subject: audit.Subject{Type: "album", ID: out.ID},
		Details: map[string]string{"title": out.Title, "artistId": out.ArtistID, "tracks": strconv.Itoa(len(out.TrackIDs))}})
	return out, nil
}

// UploadAudio stores a track's audio after checking what the bytes are.
func (s *Service) UploadAudio(ctx context.Context, v domain.Viewer, trackID string, data []byte) (*domain.Track, error) {
	t, al, _, err := s.visibleTrack(ctx, v, trackID)
	if err != nil {
		return nil, err
	}
	if _, err := s.managedArtist(ctx, v, al.ArtistID); err != nil {
		return nil, err
	}
	if len(data) > s.cfg.MaxAudioBytes {
		return nil, fault.E(fault.KindPayload, "audio-too-large", "audio files may be at most "+itoa(s.cfg.MaxAudioBytes)+" bytes")
	}
	info, err := domain.ProbeAudio(data)
	if err != nil {
		return nil, fault.E(fault.KindUnsupportedMedia, "not-audio", "the body is not an MP3, Ogg, WAV or FLAC file")
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	if t.Audio != nil && t.Audio.SHA256 == digest {
		return t, nil // the same file again: nothing to do
	}
	key := "tracks/" + trackID + "/" + digest[:16] + "." + info.Format
	n, err := s.storeChunks(ctx, key, data, digest)
	if err != nil {
		return nil, err
	}
	audio := &domain.Audio{Key: key, Format: info.Format, MimeType: info.MimeType, Size: len(data),
		DurationMs: info.Duration.Milliseconds(), SHA256: digest, UploadedAt: s.now().UTC(),
		ChunkSize: ChunkSize, Chunks: n, DataStart: info.DataStart, BlockAlign: info.BlockAlign}
	defer s.forget()
	return s.tracks.Update(ctx, trackID, func(tr *domain.Track) error { tr.Audio = audio; return nil })
}

// ForgetOwner detaches a deleted account from the artists it managed
// (user.deleted): the artists and their albums stay in the catalogue, managed
// by admins from then on. Running it again changes nothing.
func (s *Service) ForgetOwner(ctx context.Context, userID string) error {
	ix, err := s.readIndex(ctx)
	if err != nil {
		return err
	}
	var owned []string
	for _, a := range ix.Artists {
		if a.OwnerUserID == userID {
			owned = append(owned, a.ID)
		}
	}
	if len(owned) == 0 {
		return nil
	}
	return s.withIndex(ctx, owned, func(tx *state.Tx, ix *domain.Index) error {
		for i := range ix.Artists {
			if ix.Artists[i].OwnerUserID != userID {
				continue
			}
			ix.Artists[i].OwnerUserID = ""
			a, err := s.artists.Read(ctx, tx, ix.Artists[i].ID)
			if errors.Is(err, domain.ErrArtistNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			a.OwnerUserID = ""
			if err := s.artists.Write(tx, a.ID, a); err != nil {
				return err
			}
		}
		return nil
	})
}
