package app

import (
	"context"

	"github.com/harmonia-music/harmonia/apps/albums/internal/domain"
	"github.com/harmonia-music/harmonia/internal/exports"
	"github.com/harmonia-music/harmonia/internal/platform/cursor"
	"github.com/harmonia-music/harmonia/internal/platform/fault"
)

// Export pages are read from the stored index (not the cached one), so a
// rebuild sees every write committed before it asked.

func exportWindow(limit int, after, list string, total int) (start, end int, next string, err error) {
	if limit < 1 || limit > 500 {
		return 0, 0, "", fault.Invalid("limit", "must be between 1 and 500")
	}
	start, err = cursor.Decode(after, list)
	if err != nil {
		return 0, 0, "", err
	}
	start = min(start, total)
	end = min(start+limit, total)
	if end < total {
		next = cursor.Encode(end, list)
	}
	return start, end, next, nil
}

// ExportArtists pages through every artist (search's rebuild).
func (s *Service) ExportArtists(ctx context.Context, limit int, after string) (exports.Page[exports.Artist], error) {
	var page exports.Page[exports.Artist]
	ix, err := s.readIndex(ctx)
	if err != nil {
		return page, err
	}
	start, end, next, err := exportWindow(limit, after, "artist-export", len(ix.Artists))
	if err != nil {
		return page, err
	}
	ids := make([]string, 0, end-start)
	for _, a := range ix.Artists[start:end] {
		ids = append(ids, a.ID)
	}
	artists, err := s.artists.GetMany(ctx, ids)
	if err != nil {
		return page, err
	}
	page.Items, page.NextCursor = make([]exports.Artist, 0, len(artists)), next
	for _, a := range artists {
		page.Items = append(page.Items, exports.Artist{ID: a.ID, Name: a.Name, Genres: a.Genres, Version: a.CurrentVersion()})
	}
	return page, nil
}

// ExportAlbums pages through every published album with its tracks and its
// artist's name: the facts album.published carries.
func (s *Service) ExportAlbums(ctx context.Context, limit int, after string) (exports.Page[exports.Album], error) {
	var page exports.Page[exports.Album]
	ix, err := s.readIndex(ctx)
	if err != nil {
		return page, err
	}
	var published []string
	for _, a := range ix.Albums {
		if a.Status == domain.Published {
			published = append(published, a.ID)
		}
	}
	names := make(map[string]string, len(ix.Artists))
	for _, a := range ix.Artists {
		names[a.ID] = a.Name
	}
	start, end, next, err := exportWindow(limit, after, "album-export", len(published))
	if err != nil {
		return page, err
	}
	albums, err := s.albums.GetMany(ctx, published[start:end])
	if err != nil {
		return page, err
	}
	var trackIDs []string
	for _, a := range albums {
		trackIDs = append(trackIDs, a.TrackIDs...)
	}
	tracks, err := s.tracks.GetMany(ctx, trackIDs)
	if err != nil {
		return page, err
	}
	byAlbum := map[string][]*domain.Track{}
	for _, t := range tracks {
		byAlbum[t.AlbumID] = append(byAlbum[t.AlbumID], t)
	}
	page.Items, page.NextCursor = make([]exports.Album, 0, len(albums)), next
	for _, a := range albums {
		if a.Status != domain.Published {
			continue
		}
		e := exports.Album{ID: a.ID, ArtistID: a.ArtistID, ArtistName: names[a.ArtistID], Title: a.Title, Genre: a.Genre,
			ReleaseDate: a.ReleaseDate, Version: a.Version, Tracks: albumFacts(a, "", byAlbum[a.ID]).Tracks}
		if a.PublishedAt != nil {
			e.PublishedAt = *a.PublishedAt
		}
		page.Items = append(page.Items, e)
	}
	return page, nil
}
