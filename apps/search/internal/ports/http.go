// Package ports translates HTTP and events to search's use cases.
package ports

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/harmonia-music/harmonia/apps/search/internal/app"
	"github.com/harmonia-music/harmonia/apps/search/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/exports"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/fault"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
)

// Routes mounts search's routes.
func Routes(r *mux.Router, s *app.Service, reindex func()) {
	h := handlers{s: s, reindex: reindex}
	r.HandleFunc("/api/v1/search", h.search).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/search/suggest", h.suggest).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/admin/search/reindex", h.rebuild).Methods(http.MethodPost)
}

// Events keeps the index in step with the catalogue and the playlists.
func Events(r *mux.Router, subs *pubsub.Subscriptions, s *app.Service) {
	pubsub.On(r, subs, func(_ context.Context, e events.ArtistCreated) error {
		return s.Artist(e.ArtistID, e.Name, e.Genres, e.Version)
	})
	pubsub.On(r, subs, func(_ context.Context, e events.ArtistUpdated) error {
		return s.Artist(e.ArtistID, e.Name, e.Genres, e.Version)
	})
	pubsub.On(r, subs, func(_ context.Context, e events.AlbumPublished) error {
		if e.Tracks == nil {
			e.Tracks = []events.TrackFacts{} // published: its tracks are all there are
		}
		e.Version = max(e.Version, 1)
		return s.Album(e.Album)
	})
	pubsub.On(r, subs, func(_ context.Context, e events.AlbumUpdated) error {
		return s.Album(e.Album)
	})
	pubsub.On(r, subs, func(_ context.Context, e events.PlaylistChanged) error {
		return s.Playlist(exports.Playlist{ID: e.PlaylistID, OwnerID: e.OwnerID, Name: e.Name, TrackCount: e.TrackCount,
			Version: e.Version, UpdatedAt: e.ChangedAt}, e.Public)
	})
	pubsub.On(r, subs, func(_ context.Context, e events.PlaylistDeleted) error {
		return s.PlaylistDeleted(e.PlaylistID)
	})
	pubsub.On(r, subs, func(_ context.Context, e events.TrackPlayed) error {
		s.Played(e)
		return nil
	})
}

type handlers struct {
	s       *app.Service
	reindex func()
}

func (h handlers) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var v fault.Validation
	text, err := domain.CheckText(q.Get("q"))
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	kinds, err := domain.ParseKinds(q.Get("type"))
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	limit, err := platform.QueryLimit(q.Get("limit"), 10, domain.MaxLimit)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	query := domain.Query{Text: text, Kinds: kinds, Limit: limit}
	switch f := q.Get("facets"); f {
	case "", "false":
	case "true":
		query.Facets = true
	default:
		v.Add("facets", "must be true or false")
	}
	if c := q.Get("cursor"); c != "" {
		if len(kinds) != 1 {
			v.Add("cursor", "pages one type's results: ask with that type alone (type=track, for example)")
		} else if query.Offset, err = app.DecodeCursor(c, kinds[0]); err != nil {
			platform.WriteError(w, r, err)
			return
		}
	}
	if err := v.Err(); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	ans, err := h.s.Search(query)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	out := map[string]any{"top": ans.Top}
	for k, g := range ans.Groups {
		out[string(k)+"s"] = g
	}
	if ans.Facets != nil {
		out["facets"] = ans.Facets
	}
	platform.WriteJSON(w, http.StatusOK, out)
}

func (h handlers) suggest(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	text, err := domain.CheckText(q.Get("q"))
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	limit, err := platform.QueryLimit(q.Get("limit"), domain.MaxSuggest, domain.MaxSuggest)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	if last := q.Get("q"); len(last) > 0 && last[len(last)-1] == ' ' {
		text += " "
	}
	platform.WriteJSON(w, http.StatusOK, map[string]any{"items": h.s.Suggest(text, limit)})
}

// rebuild starts a reindex (admins): 202 at once, the index keeps
// answering while the new one is built.
func (h handlers) rebuild(w http.ResponseWriter, r *http.Request) {
	c, ok := platform.SignedIn(w, r)
	if !ok {
		return
	}
	if !c.HasRole("admin") {
		platform.WriteError(w, r, fault.E(fault.KindForbidden, "forbidden", "only an admin rebuilds the search index"))
		return
	}
	platform.Logger(r.Context()).Info("search reindex asked", slog.String("by", c.UserID))
	h.reindex()
	platform.WriteJSON(w, http.StatusAccepted, map[string]string{"status": "rebuilding"})
}
