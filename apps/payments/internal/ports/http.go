// Package ports translates HTTP to payments' use cases.
package ports

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/harmonia-music/harmonia/apps/payments/internal/app"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
)

// Routes mounts payments' routes. Charges and refunds are internal: the
// access-control policy lets only subscriptions call them.
func Routes(r *mux.Router, s *app.Service) {
	h := handlers{s: s}
	r.HandleFunc("/api/v1/me/payment-methods", h.add).Methods(http.MethodPost)
	r.HandleFunc("/api/v1/me/payment-methods", h.list).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/me/payment-methods/{id}", h.remove).Methods(http.MethodDelete)
	r.HandleFunc("/api/v1/me/payments", h.payments).Methods(http.MethodGet)
	r.HandleFunc("/internal/charges", h.charge).Methods(http.MethodPost)
	r.HandleFunc("/internal/refunds", h.refund).Methods(http.MethodPost)
}

// Events erases what payments holds of a deleted account.
func Events(r *mux.Router, subs *pubsub.Subscriptions, s *app.Service) {
	pubsub.On(r, subs, func(ctx context.Context, e events.UserDeleted) error {
		return s.ForgetUser(ctx, e.UserID)
	})
}

type handlers struct{ s *app.Service }

func (h handlers) add(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	var in cardRequest
	if err := platform.DecodeJSON(w, r, &in); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	m, err := h.s.AddMethod(r.Context(), uid, in.input())
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/me/payment-methods/"+m.ID)
	platform.WriteJSON(w, http.StatusCreated, m.View())
}

func (h handlers) list(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	ms, err := h.s.Methods(r.Context(), uid)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, map[string]any{"items": ms})
}

func (h handlers) remove(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	if err := h.s.DeleteMethod(r.Context(), uid, mux.Vars(r)["id"]); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h handlers) payments(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	cs, err := h.s.Payments(r.Context(), uid)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	items := make([]paymentView, len(cs))
	for i, c := range cs {
		items[i] = paymentOf(c)
	}
	platform.WriteJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (h handlers) charge(w http.ResponseWriter, r *http.Request) {
	var in app.ChargeInput
	if err := platform.DecodeJSON(w, r, &in); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	c, err := h.s.Charge(r.Context(), in)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, answerOf(c))
}

func (h handlers) refund(w http.ResponseWriter, r *http.Request) {
	var in struct {
		IdempotencyKey string `json:"idempotencyKey"`
	}
	if err := platform.DecodeJSON(w, r, &in); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	c, err := h.s.Refund(r.Context(), in.IdempotencyKey)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, answerOf(c))
}
