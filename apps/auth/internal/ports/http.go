// Package ports translates HTTP to auth's use cases and back.
package ports

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/harmonia-music/harmonia/apps/auth/internal/app"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/audit"
	"github.com/harmonia-music/harmonia/internal/platform/validate"
)

// Routes mounts auth's public (through the gateway) and internal routes.
func Routes(r *mux.Router, s *app.Service) {
	h := handlers{s: s}
	r.HandleFunc("/api/v1/auth/register", h.register).Methods(http.MethodPost)
	r.HandleFunc("/api/v1/auth/login", h.login).Methods(http.MethodPost)
	r.HandleFunc("/api/v1/auth/refresh", h.refresh).Methods(http.MethodPost)
	r.HandleFunc("/api/v1/auth/logout", h.logout).Methods(http.MethodPost)
	r.HandleFunc("/api/v1/auth/jwks", h.jwks).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/admin/users/{id}/roles", h.setRoles).Methods(http.MethodPut)
	r.HandleFunc("/api/v1/admin/auth/keys/rotate", h.rotate).Methods(http.MethodPost)
	r.HandleFunc("/internal/accounts/{id}/email", h.changeEmail).Methods(http.MethodPut)
	r.HandleFunc("/internal/accounts/{id}", h.deleteAccount).Methods(http.MethodDelete)
	r.HandleFunc("/internal/billing/verify", h.verifyBilling).Methods(http.MethodPost)
	r.HandleFunc("/internal/accounts/lookup", h.lookup).Methods(http.MethodPost)
}

type handlers struct{ s *app.Service }

func tokens(w http.ResponseWriter, status int, t app.Tokens) {
	w.Header().Set("Cache-Control", "no-store")
	platform.WriteJSON(w, status, t)
}

func (h handlers) register(w http.ResponseWriter, r *http.Request) {
	var in app.RegisterInput
	if err := platform.DecodeJSON(w, r, &in); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	t, err := h.s.Register(r.Context(), in)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/me")
	tokens(w, http.StatusCreated, t)
}

func (h handlers) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := platform.DecodeJSON(w, r, &in); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	t, err := h.s.Login(r.Context(), in.Email, in.Password, r.Header.Get(platform.HeaderClientIP))
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	tokens(w, http.StatusOK, t)
}

type refreshBody struct {
	RefreshToken string `json:"refreshToken"`
}

func (h handlers) refresh(w http.ResponseWriter, r *http.Request) {
	var in refreshBody
	if err := platform.DecodeJSON(w, r, &in); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	t, err := h.s.Refresh(r.Context(), in.RefreshToken)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	tokens(w, http.StatusOK, t)
}

func (h handlers) logout(w http.ResponseWriter, r *http.Request) {
	var in refreshBody
	if err := platform.DecodeJSON(w, r, &in); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	if err := h.s.Logout(r.Context(), in.RefreshToken); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h handlers) jwks(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=60")
	platform.WriteJSON(w, http.StatusOK, h.s.Keys.JWKS(r.Context()))
}

func (h handlers) setRoles(w http.ResponseWriter, r *http.Request) {
	if _, ok := platform.RequireAdmin(w, r); !ok {
		return
	}
	var in struct {
		Roles []string `json:"roles"`
	}
	if err := platform.DecodeJSON(w, r, &in); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	v, err := h.s.SetRoles(r.Context(), mux.Vars(r)["id"], in.Roles)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, v)
}

func (h handlers) rotate(w http.ResponseWriter, r *http.Request) {
	if _, ok := platform.RequireAdmin(w, r); !ok {
		return
	}
	kid, err := h.s.Keys.Rotate(r.Context())
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	h.s.Audit.Record(r.Context(), audit.Record{Action: "auth.key.rotated", Subject: audit.Subject{Type: "signing-key", ID: kid}})
	platform.WriteJSON(w, http.StatusOK, map[string]string{"kid": kid})
}

// lookup answers the account id of a sign-in address (subscriptions: a
// family invitation); the address travels in the body, never in a URL.
func (h handlers) lookup(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email string `json:"email"`
	}
	if err := platform.DecodeJSON(w, r, &in); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	id, err := h.s.AccountID(r.Context(), in.Email)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, map[string]string{"id": id})
}

func userID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := mux.Vars(r)["id"]
	if m := validate.ID(id); m != "" {
		platform.WriteError(w, r, platform.Invalid("id", m))
		return "", false
	}
	return id, true
}

func (h handlers) changeEmail(w http.ResponseWriter, r *http.Request) {
	id, ok := userID(w, r)
	if !ok {
		return
	}
	var in struct {
		Email   string `json:"email"`
		Version int    `json:"version"`
	}
	if err := platform.DecodeJSON(w, r, &in); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	if err := h.s.ChangeEmail(r.Context(), id, in.Email, in.Version); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h handlers) deleteAccount(w http.ResponseWriter, r *http.Request) {
	id, ok := userID(w, r)
	if !ok {
		return
	}
	if err := h.s.DeleteAccount(r.Context(), id); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// verifyBilling tells payments whether an account may be billed: it exists
// and is not locked out of signing in.
func (h handlers) verifyBilling(w http.ResponseWriter, r *http.Request) {
	var in struct {
		UserID string `json:"userId"`
	}
	if err := platform.DecodeJSON(w, r, &in); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	if err := h.s.VerifyBilling(r.Context(), in.UserID); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, map[string]bool{"verified": true})
}
