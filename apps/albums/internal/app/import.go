package app

import (
	"context"
	"slices"
	"strconv"

	"github.com/harmonia-music/harmonia/apps/albums/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform/audit"
	"github.com/harmonia-music/harmonia/internal/platform/fault"
	"github.com/harmonia-music/harmonia/internal/platform/state"
	"github.com/harmonia-music/harmonia/internal/platform/validate"
)

// ImportBatch is a piece of catalogue an admin loads in one go (the seed
// catalogue, a label's back catalogue). Ids are the caller's, so importing
// the same batch again changes nothing: it is idempotent.
type ImportBatch struct {
	Artists []domain.Artist `json:"artists"`
	Albums  []ImportAlbum   `json:"albums"`
}

// ImportAlbum is an album with its tracks.
type ImportAlbum struct {
	ID          string         `json:"id"`
	ArtistID    string         `json:"artistId"`
	Title       string         `json:"title"`
	Genre       string         `json:"genre"`
	ReleaseDate string         `json:"releaseDate"`
	Published   bool           `json:"published"`
	Tracks      []domain.Track `json:"tracks"`
}

// ImportResult counts what a batch wrote.
type ImportResult struct {
	Artists   int `json:"artists"`
	Albums    int `json:"albums"`
	Tracks    int `json:"tracks"`
	Published int `json:"published"`
}

// Import upserts a batch in one transaction (admins only). Audio already
// uploaded to a track is kept. An album imported as published is visible
// even without audio (metadata-only catalogues for benchmarks).
func (s *Service) Import(ctx context.Context, v domain.Viewer, b ImportBatch) (ImportResult, error) {
	var res ImportResult
	if !v.IsAdmin {
		return res, fault.E(fault.KindForbidden, "forbidden", "only an admin imports catalogue")
	}
	tracks := 0
	for _, a := range b.Albums {
		tracks += len(a.Tracks)
	}
	if len(b.Artists) > 200 || len(b.Albums) > 500 || tracks > 5000 {
		return res, fault.Invalid("body", "a batch holds at most 200 artists, 500 albums and 5000 tracks")
	}
	var val fault.Validation
	for i := range b.Artists {
		if m := validate.ID(b.Artists[i].ID); m != "" {
			val.Add("artists.id", "%s", m)
		}
		if err := domain.ValidateArtist(&b.Artists[i]); err != nil {
			return res, err
		}
	}
	var trackIDs []string
	for i := range b.Albums {
		a := &b.Albums[i]
		al := domain.Album{Title: a.Title, Genre: a.Genre, ReleaseDate: a.ReleaseDate}
		if err := domain.ValidateAlbum(&al); err != nil {
			return res, err
		}
		a.Genre = al.Genre
		for _, id := range []string{a.ID, a.ArtistID} {
			if m := validate.ID(id); m != "" {
				val.Add("albums.id", "%s", m)
			}
		}
		for j := range a.Tracks {
			if m := validate.ID(a.Tracks[j].ID); m != "" {
				val.Add("albums.tracks.id", "%s", m)
			}
			if err := domain.ValidateTrack(&a.Tracks[j]); err != nil {
				return res, err
			}
			trackIDs = append(trackIDs, a.Tracks[j].ID)
		}
	}
	if err := val.Err(); err != nil {
		return res, err
	}
	existingTracks, err := s.tracks.GetMany(ctx, trackIDs)
	if err != nil {
		return res, err
	}
	audio := map[string]*domain.Audio{}
	for _, t := range existingTracks {
		audio[t.ID] = t.Audio
	}
	albumIDs := make([]string, len(b.Albums))
	for i, a := range b.Albums {
		albumIDs[i] = a.ID
	}
	existingAlbums, err := s.albums.GetMany(ctx, albumIDs)
	if err != nil {
		return res, err
	}
	before := map[string]*domain.Album{}
	for _, a := range existingAlbums {
		before[a.ID] = a
	}
	now := s.now().UTC()
	var newlyPublished []domain.Album
	var newArtists []domain.Artist
	touched := slices.Clone(albumIDs)
	for _, a := range b.Artists {
		touched = append(touched, a.ID)
	}
	for _, a := range b.Albums {
		touched = append(touched, a.ArtistID)
	}
	err = s.withIndex(ctx, touched, func(tx *state.Tx, ix *domain.Index) error {
		newArtists = newArtists[:0] // the callback runs again on a conflict
		known := map[string]bool{}
		for _, a := range ix.Artists {
			known[a.ID] = true
		}
		for i := range b.Artists {
			a := b.Artists[i]
			a.CreatedAt, a.Version = now, 1
			if a.Genres == nil {
				a.Genres = []string{}
			}
			if err := s.artists.Write(tx, a.ID, &a); err != nil {
				return err
			}
			if !known[a.ID] {
				ix.Artists = append(ix.Artists, domain.ArtistSummary{ID: a.ID, Name: a.Name, Genres: a.Genres, OwnerUserID: a.OwnerUserID})
				known[a.ID] = true
				newArtists = append(newArtists, a)
			}
		}
		newlyPublished = newlyPublished[:0]
		for _, in := range b.Albums {
			if !known[in.ArtistID] {
				return fault.Invalid("albums.artistId", "names an artist that is neither stored nor in the batch")
			}
			al := domain.Album{ID: in.ID, ArtistID: in.ArtistID, Title: in.Title, Genre: in.Genre, ReleaseDate: in.ReleaseDate,
				Status: domain.Draft, TrackIDs: []string{}, Version: 1, CreatedAt: now, UpdatedAt: now}
			if old := before[in.ID]; old != nil {
				al.CreatedAt, al.Version, al.PublishedAt, al.Status = old.CreatedAt, old.Version+1, old.PublishedAt, old.Status
			}
			if in.Published && al.Status != domain.Published {
				al.Status, al.PublishedAt = domain.Published, &now
				newlyPublished = append(newlyPublished, al)
			}
			for _, t := range in.Tracks {
				t.AlbumID, t.ArtistID, t.CreatedAt, t.Audio = al.ID, al.ArtistID, now, audio[t.ID]
				al.TrackIDs = append(al.TrackIDs, t.ID)
				if err := s.tracks.Write(tx, t.ID, &t); err != nil {
					return err
				}
			}
			if err := s.albums.Write(tx, al.ID, &al); err != nil {
				return err
			}
			ix.PutAlbum(al.Summary())
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	s.Audit.Record(ctx, audit.Record{Action: "catalog.imported", Details: map[string]string{
		"artists": strconv.Itoa(len(b.Artists)), "albums": strconv.Itoa(len(b.Albums)), "tracks": strconv.Itoa(tracks)}})
	for i := range newArtists {
		s.publish(ctx, artistCreated(&newArtists[i]))
	}
	names := map[string]string{}
	for _, a := range b.Artists {
		names[a.ID] = a.Name
	}
	batchTracks := map[string][]*domain.Track{}
	for _, in := range b.Albums {
		for i := range in.Tracks {
			t := in.Tracks[i]
			t.Audio = audio[t.ID]
			batchTracks[in.ID] = append(batchTracks[in.ID], &t)
		}
	}
	for i := range newlyPublished {
		al := &newlyPublished[i]
		name, ok := names[al.ArtistID]
		if !ok {
			if ar, err := s.artists.Get(ctx, al.ArtistID); err == nil {
				name = ar.Name
			}
		}
		s.publish(ctx, events.AlbumPublished{Album: albumFacts(al, name, batchTracks[al.ID]),
			TrackCount: len(batchTracks[al.ID]), PublishedAt: *al.PublishedAt})
	}
	return ImportResult{Artists: len(b.Artists), Albums: len(b.Albums), Tracks: tracks, Published: len(newlyPublished)}, nil
}
