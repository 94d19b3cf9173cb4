// Package ports translates HTTP and events to playlists' use cases.
package ports

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/harmonia-music/harmonia/apps/playlists/internal/app"
	"github.com/harmonia-music/harmonia/apps/playlists/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/exports"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
)

// Routes mounts playlists' routes.
func Routes(r *mux.Router, s *app.Service) {
	h := handlers{s: s}
	r.HandleFunc("/api/v1/me/playlists", h.mine).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/playlists", h.create).Methods(http.MethodPost)
	r.HandleFunc("/api/v1/playlists/{id}", h.get).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/playlists/{id}", h.patch).Methods(http.MethodPatch)
	r.HandleFunc("/api/v1/playlists/{id}", h.delete).Methods(http.MethodDelete)
	r.HandleFunc("/api/v1/playlists/{id}/tracks", h.addTrack).Methods(http.MethodPost)
	r.HandleFunc("/api/v1/playlists/{id}/tracks/{entryId}", h.removeEntry).Methods(http.MethodDelete)
	r.HandleFunc("/api/v1/playlists/{id}/order", h.reorder).Methods(http.MethodPut)
	r.HandleFunc("/internal/export/playlists", h.export).Methods(http.MethodGet)
}

// export pages through the public playlists for search's rebuild (its
// access-control policy lets only search call it).
func (h handlers) export(w http.ResponseWriter, r *http.Request) {
	n := 200
	if l := r.URL.Query().Get("limit"); l != "" {
		var err error
		if n, err = strconv.Atoi(l); err != nil {
			platform.WriteError(w, r, platform.Invalid("limit", "must be a number between 1 and 500"))
			return
		}
	}
	items, next, err := h.s.Export(r.Context(), n, r.URL.Query().Get("cursor"))
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	page := exports.Page[exports.Playlist]{Items: make([]exports.Playlist, len(items)), NextCursor: next}
	for i, p := range items {
		page.Items[i] = exports.Playlist{ID: p.ID, OwnerID: p.OwnerID, Name: p.Name, TrackCount: len(p.Entries),
			Version: p.Version, UpdatedAt: p.UpdatedAt}
	}
	platform.WriteJSON(w, http.StatusOK, page)
}

// Events removes a deleted user's playlists.
func Events(r *mux.Router, subs *pubsub.Subscriptions, s *app.Service) {
	pubsub.On(r, subs, func(ctx context.Context, e events.UserDeleted) error {
		return s.DeleteAllOf(ctx, e.UserID)
	})
}

type handlers struct{ s *app.Service }

func reply(w http.ResponseWriter, r *http.Request, status int, p *domain.Playlist, err error) {
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	w.Header().Set("ETag", platform.VersionETag(p.Version))
	platform.WriteJSON(w, status, playlistOf(p))
}

func (h handlers) mine(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	n := 0
	if l := r.URL.Query().Get("limit"); l != "" {
		var err error
		if n, err = strconv.Atoi(l); err != nil {
			platform.WriteError(w, r, platform.Invalid("limit", "must be a number between 1 and 100"))
			return
		}
	}
	items, next, err := h.s.Mine(r.Context(), uid, n, r.URL.Query().Get("cursor"))
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	page := playlistPage{Items: make([]playlistView, len(items)), NextCursor: next}
	for i, p := range items {
		page.Items[i] = playlistOf(p)
	}
	platform.WriteJSON(w, http.StatusOK, page)
}

func (h handlers) create(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	var in struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		Public      *bool  `json:"public"`
	}
	if err := platform.DecodeJSON(w, r, &in); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	public := in.Public != nil && *in.Public
	p, err := h.s.Create(r.Context(), uid, in.Name, in.Description, public)
	if err == nil {
		w.Header().Set("Location", "/api/v1/playlists/"+p.ID)
	}
	reply(w, r, http.StatusCreated, p, err)
}

func (h handlers) get(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	p, err := h.s.Get(r.Context(), uid, mux.Vars(r)["id"])
	reply(w, r, http.StatusOK, p, err)
}

// change runs a write on a playlist: the caller, the If-Match version and
// (when in is not nil) the JSON body first, then fn, then the answer.
func (h handlers) change(w http.ResponseWriter, r *http.Request, in any, fn func(uid string, match int) (*domain.Playlist, error)) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	match, err := platform.IfMatchVersion(r)
	if err == nil && in != nil {
		err = platform.DecodeJSON(w, r, in)
	}
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	p, err := fn(uid, match)
	reply(w, r, http.StatusOK, p, err)
}

func (h handlers) patch(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name        *string `json:"name"`
		Description *string `json:"description"`
		Public      *bool   `json:"public"`
	}
	h.change(w, r, &in, func(uid string, match int) (*domain.Playlist, error) {
		return h.s.Patch(r.Context(), uid, mux.Vars(r)["id"], match, in.Name, in.Description, in.Public)
	})
}

func (h handlers) delete(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	match, err := platform.IfMatchVersion(r)
	if err == nil {
		err = h.s.Delete(r.Context(), uid, mux.Vars(r)["id"], match)
	}
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h handlers) addTrack(w http.ResponseWriter, r *http.Request) {
	var in struct {
		TrackID  string `json:"trackId"`
		Position *int   `json:"position"`
	}
	h.change(w, r, &in, func(uid string, match int) (*domain.Playlist, error) {
		return h.s.AddTrack(r.Context(), uid, mux.Vars(r)["id"], match, in.TrackID, in.Position)
	})
}

func (h handlers) removeEntry(w http.ResponseWriter, r *http.Request) {
	h.change(w, r, nil, func(uid string, match int) (*domain.Playlist, error) {
		return h.s.RemoveEntry(r.Context(), uid, mux.Vars(r)["id"], match, mux.Vars(r)["entryId"])
	})
}

func (h handlers) reorder(w http.ResponseWriter, r *http.Request) {
	var in struct {
		EntryIDs []string `json:"entryIds"`
	}
	h.change(w, r, &in, func(uid string, match int) (*domain.Playlist, error) {
		return h.s.Reorder(r.Context(), uid, mux.Vars(r)["id"], match, in.EntryIDs)
	})
}
