// Package ports translates HTTP to subscriptions' use cases.
package ports

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/harmonia-music/harmonia/apps/subscriptions/internal/app"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
)

// Events acts on deleted accounts: their subscription stops renewing, and
// their memberships and invitations go.
func Events(r *mux.Router, subs *pubsub.Subscriptions, s *app.Service) {
	pubsub.On(r, subs, func(ctx context.Context, e events.UserDeleted) error {
		return s.ForgetUser(ctx, e.UserID)
	})
}

// Routes mounts subscriptions' routes.
func Routes(r *mux.Router, s *app.Service) {
	h := handlers{s: s}
	r.HandleFunc("/api/v1/plans", h.plans).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/subscriptions", h.subscribe).Methods(http.MethodPost)
	r.HandleFunc("/api/v1/subscriptions/{id}", h.get).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/me/subscription", h.current).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/subscriptions/{id}/cancel", h.cancel).Methods(http.MethodPost)
	r.HandleFunc("/api/v1/subscriptions/{id}/members", h.invite).Methods(http.MethodPost)
	r.HandleFunc("/api/v1/subscriptions/{id}/members/{userId}", h.removeMember).Methods(http.MethodDelete)
	r.HandleFunc("/api/v1/me/invitations", h.invitations).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/me/invitations/{id}/accept", h.accept).Methods(http.MethodPost)
	r.HandleFunc("/api/v1/me/membership", h.leave).Methods(http.MethodDelete)
	r.HandleFunc("/internal/entitlements/{userId}", h.entitlement).Methods(http.MethodGet)
}

type handlers struct{ s *app.Service }

func (h handlers) plans(w http.ResponseWriter, r *http.Request) {
	ps, err := h.s.Plans(r.Context())
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	platform.WriteJSON(w, http.StatusOK, map[string]any{"items": plansOf(ps)})
}

func (h handlers) subscribe(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	var in struct {
		PlanID          string `json:"planId"`
		PaymentMethodID string `json:"paymentMethodId"`
	}
	if err := platform.DecodeJSON(w, r, &in); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	sub, err := h.s.Subscribe(r.Context(), uid, r.Header.Get("Idempotency-Key"), in.PlanID, in.PaymentMethodID)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/subscriptions/"+sub.ID)
	platform.WriteJSON(w, http.StatusAccepted, viewOf(sub))
}

func (h handlers) get(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	sub, err := h.s.Get(r.Context(), uid, mux.Vars(r)["id"])
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, viewOf(sub))
}

func (h handlers) current(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	sub, err := h.s.Current(r.Context(), uid)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, viewOf(sub))
}

func (h handlers) cancel(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	sub, err := h.s.Cancel(r.Context(), uid, mux.Vars(r)["id"])
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, viewOf(sub))
}

func (h handlers) invite(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	var in struct {
		Email string `json:"email"`
	}
	if err := platform.DecodeJSON(w, r, &in); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	inv, err := h.s.Invite(r.Context(), uid, mux.Vars(r)["id"], in.Email)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusCreated, sentInvitationOf(inv))
}

func (h handlers) invitations(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	invs, err := h.s.Invitations(r.Context(), uid)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	items := make([]receivedInvitationView, len(invs))
	for i, inv := range invs {
		items[i] = receivedInvitationOf(inv)
	}
	platform.WriteJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (h handlers) accept(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	inv, err := h.s.Accept(r.Context(), uid, mux.Vars(r)["id"])
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, receivedInvitationOf(inv))
}

func (h handlers) removeMember(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	sub, err := h.s.RemoveMember(r.Context(), uid, mux.Vars(r)["id"], mux.Vars(r)["userId"])
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, viewOf(sub))
}

func (h handlers) leave(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	if err := h.s.Leave(r.Context(), uid); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h handlers) entitlement(w http.ResponseWriter, r *http.Request) {
	e, err := h.s.Entitlement(r.Context(), mux.Vars(r)["userId"])
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, e)
}
