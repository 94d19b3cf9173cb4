package ports_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/apps/auth/internal/app"
	"github.com/harmonia-music/harmonia/apps/auth/internal/domain"
	"github.com/harmonia-music/harmonia/apps/auth/internal/ports"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

type okProfiles struct{}

func (okProfiles) Create(context.Context, app.NewProfile) error { return nil }

func server(t *testing.T) http.Handler {
	t.Helper()
	pol := domain.ThrottlePolicy{MaxFailures: 5, Window: time.Minute, Lockout: time.Minute}
	s, err := app.New(app.Config{AccessTTL: time.Minute, RefreshTTL: time.Hour, AccountThrottle: pol, AddressThrottle: domain.AddressPolicy{Burst: 5, Refill: time.Minute},
		Argon2: app.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}}, state.NewMemory(), okProfiles{}, &pubsub.Memory{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Keys.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	svc := platform.NewService("auth", platform.Common{}, io.Discard)
	ports.Routes(svc.Router, s)
	return svc.Handler()
}

func call(h http.Handler, method, path, body string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHandlers(t *testing.T) {
	h := server(t)
	w := call(h, "POST", "/api/v1/auth/register", `{"email":"a@example.com","password":"long-enough-1","displayName":"A"}`)
	if w.Code != 201 || w.Header().Get("Location") != "/api/v1/me" || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
	var tk app.Tokens
	_ = json.Unmarshal(w.Body.Bytes(), &tk)
	if tk.TokenType != "Bearer" || tk.ExpiresIn != 60 || tk.UserID == "" {
		t.Fatalf("%+v", tk)
	}
	if w := call(h, "POST", "/api/v1/auth/login", `{"email":"a@example.com"}`); w.Code != 400 || !strings.Contains(w.Body.String(), `"field":"password"`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if w := call(h, "POST", "/api/v1/auth/logout", `{"refreshToken":"`+tk.RefreshToken+`"}`); w.Code != 204 {
		t.Fatalf("%d", w.Code)
	}
	if w := call(h, "GET", "/api/v1/auth/jwks", ""); w.Code != 200 || !strings.Contains(w.Body.String(), `"crv":"Ed25519"`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	roles := `{"roles":["artist"]}`
	path := "/api/v1/admin/users/" + tk.UserID + "/roles"
	if w := call(h, "PUT", path, roles); w.Code != 401 {
		t.Fatalf("anonymous: %d", w.Code)
	}
	if w := call(h, "PUT", path, roles, platform.HeaderUserID, tk.UserID, platform.HeaderUserRoles, "listener"); w.Code != 403 {
		t.Fatalf("listener: %d", w.Code)
	}
	if w := call(h, "PUT", path, roles, platform.HeaderUserID, "x", platform.HeaderUserRoles, "admin"); w.Code != 200 {
		t.Fatalf("admin: %d %s", w.Code, w.Body)
	}
	if w := call(h, "PUT", "/internal/accounts/bad/email", `{"email":"b@example.com"}`); w.Code != 400 || !strings.Contains(w.Body.String(), `"field":"id"`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}
