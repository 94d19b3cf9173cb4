// Package ports translates HTTP to users' use cases.
package ports

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/harmonia-music/harmonia/apps/users/internal/app"
	"github.com/harmonia-music/harmonia/apps/users/internal/domain"
	"github.com/harmonia-music/harmonia/internal/exports"
	"github.com/harmonia-music/harmonia/internal/platform"
)

// Routes mounts users' routes.
func Routes(r *mux.Router, s *app.Service) {
	h := handlers{s: s}
	r.HandleFunc("/api/v1/me", h.me).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/me", h.patch).Methods(http.MethodPatch)
	r.HandleFunc("/api/v1/me", h.delete).Methods(http.MethodDelete)
	r.HandleFunc("/api/v1/me/preferences", h.prefs).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/me/preferences", h.setPrefs).Methods(http.MethodPut)
	r.HandleFunc("/api/v1/me/player", h.player).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/me/player", h.setPlayer).Methods(http.MethodPut)
	r.HandleFunc("/api/v1/me/following", h.following).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/me/following/{artistId}", h.follow).Methods(http.MethodPut)
	r.HandleFunc("/api/v1/me/following/{artistId}", h.unfollow).Methods(http.MethodDelete)
	r.HandleFunc("/internal/users", h.create).Methods(http.MethodPost)
	r.HandleFunc("/internal/users/{id}", h.internalGet).Methods(http.MethodGet)
	r.HandleFunc("/internal/contacts", h.contacts).Methods(http.MethodPost)
	r.HandleFunc("/internal/marketing-opt-outs/{id}", h.optOut).Methods(http.MethodPost)
}

// contacts serves notifications: how to reach a batch of listeners.
func (h handlers) contacts(w http.ResponseWriter, r *http.Request) {
	var in exports.ContactsRequest
	if err := platform.DecodeJSON(w, r, &in); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	items, err := h.s.Contacts(r.Context(), in.UserIDs)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, exports.Contacts{Items: items})
}

// optOut serves notifications' unsubscribe link (which checked its token).
func (h handlers) optOut(w http.ResponseWriter, r *http.Request) {
	if err := h.s.OptOutOfMarketing(r.Context(), mux.Vars(r)["id"]); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type handlers struct{ s *app.Service }

func (h handlers) me(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	p, err := h.s.Get(r.Context(), uid)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, profileOf(p))
}

func (h handlers) patch(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	var patch map[string]json.RawMessage
	if err := platform.DecodeJSON(w, r, &patch); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	p, err := h.s.Patch(r.Context(), uid, patch)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, profileOf(p))
}

func (h handlers) delete(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	done, err := h.s.Delete(r.Context(), uid)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	if !done { // recorded; users finishes it on its own
		platform.WriteJSON(w, http.StatusAccepted, deletionView{Status: "deleting"})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h handlers) prefs(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	p, err := h.s.Preferences(r.Context(), uid)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, preferencesOf(p))
}

// preferencesBody makes every field required on PUT (a full replacement).
type preferencesBody struct {
	FavouriteGenres *[]string     `json:"favouriteGenres"`
	Notifications   *channelsView `json:"notifications"`
	MarketingOptIn  *bool         `json:"marketingOptIn"`
}

func (h handlers) setPrefs(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	var in preferencesBody
	if err := platform.DecodeJSON(w, r, &in); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	var v platform.Validation
	v.Check(in.FavouriteGenres != nil, "favouriteGenres", "is required (use [] for none)")
	v.Check(in.Notifications != nil, "notifications", "is required")
	v.Check(in.MarketingOptIn != nil, "marketingOptIn", "is required")
	if err := v.Err(); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	n := in.Notifications
	p, err := h.s.SetPreferences(r.Context(), uid, domain.Preferences{FavouriteGenres: *in.FavouriteGenres,
		Notifications: domain.Channels{Email: n.Email, SMS: n.SMS, InApp: n.InApp}, MarketingOptIn: *in.MarketingOptIn})
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, preferencesOf(p))
}

func (h handlers) player(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	p, err := h.s.Player(r.Context(), uid)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, playerOf(p))
}

// playerBody is a full replacement of the player's state.
type playerBody struct {
	TrackIDs   *[]string `json:"trackIds"`
	Index      *int      `json:"index"`
	PositionMs *int64    `json:"positionMs"`
	Volume     *float64  `json:"volume"`
}

func (h handlers) setPlayer(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	var in playerBody
	if err := platform.DecodeJSON(w, r, &in); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	var v platform.Validation
	v.Check(in.TrackIDs != nil, "trackIds", "is required (use [] for an empty queue)")
	v.Check(in.Index != nil, "index", "is required")
	v.Check(in.PositionMs != nil, "positionMs", "is required")
	if err := v.Err(); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	ids := *in.TrackIDs
	v.Check(len(ids) <= domain.MaxQueue, "trackIds", "holds at most %d tracks", domain.MaxQueue)
	for i, id := range ids {
		if _, err := uuid.Parse(id); err != nil {
			v.Check(false, fmt.Sprintf("trackIds[%d]", i), "must be a track id")
			break
		}
	}
	v.Check(*in.Index >= 0 && (*in.Index < len(ids) || (len(ids) == 0 && *in.Index == 0)), "index", "must point into trackIds")
	v.Check(*in.PositionMs >= 0 && *in.PositionMs <= 24*3600*1000, "positionMs", "must be between 0 and a day, in milliseconds")
	vol := 1.0
	if in.Volume != nil {
		vol = *in.Volume
		v.Check(vol >= 0 && vol <= 1, "volume", "must be between 0 and 1")
	}
	if err := v.Err(); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	p, err := h.s.SetPlayer(r.Context(), uid, domain.Player{TrackIDs: ids, Index: *in.Index, PositionMs: *in.PositionMs, Volume: vol})
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, playerOf(p))
}

func (h handlers) following(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	ids, err := h.s.Following(r.Context(), uid)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, map[string]any{"items": ids})
}

func (h handlers) follow(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	if err := h.s.Follow(r.Context(), uid, mux.Vars(r)["artistId"]); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h handlers) unfollow(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	if err := h.s.Unfollow(r.Context(), uid, mux.Vars(r)["artistId"]); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h handlers) create(w http.ResponseWriter, r *http.Request) {
	var in newProfileRequest
	if err := platform.DecodeJSON(w, r, &in); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	out, err := h.s.Create(r.Context(), in.profile())
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusCreated, profileOf(out))
}

// internalGet serves other services (albums: a listener's country for play
// events). Only services whose access-control policy allows it reach it.
func (h handlers) internalGet(w http.ResponseWriter, r *http.Request) {
	p, err := h.s.Get(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, listenerFacts{ID: p.ID, Country: p.Country, BirthYear: p.BirthYear})
}
