package ports

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/harmonia-music/harmonia/apps/gateway/internal/proxy"
	"github.com/harmonia-music/harmonia/apps/gateway/internal/ratelimit"
	"github.com/harmonia-music/harmonia/apps/gateway/internal/routes"
	"github.com/harmonia-music/harmonia/internal/platform"
)

// A browser's cookie session: the refresh token never reaches the page's
// scripts; it lives in an HttpOnly cookie the gateway reads back.
func TestCookieSessionKeepsTheRefreshTokenFromThePage(t *testing.T) {
	var lastBody string
	rotations := 0
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		lastBody = string(b)
		switch r.URL.Path {
		case "/api/v1/auth/login", "/api/v1/auth/refresh":
			if r.URL.Path == "/api/v1/auth/refresh" && !strings.Contains(lastBody, `"rt-1"`) {
				w.Header().Set("Content-Type", platform.ProblemContentType)
				w.WriteHeader(401)
				_, _ = io.WriteString(w, `{"type":"x","title":"Unauthorized","status":401}`)
				return
			}
			rotations++
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"userId": "u", "accessToken": "at", "refreshToken": "rt-" + string(rune('0'+rotations)),
				"tokenType": "Bearer", "expiresIn": 900, "refreshExpiresIn": 3600})
		case "/api/v1/auth/logout":
			w.WriteHeader(204)
		}
	}))
	defer auth.Close()
	px, _ := proxy.New(auth.URL, "")
	deps := Deps{Limiter: ratelimit.New(100, 100, nil), Proxy: px}
	cfg := Config{DefaultMaxBody: 1 << 10}
	h := func(path string) http.Handler {
		return Handler(routes.Route{Method: "POST", Path: path, App: "auth", Access: routes.Public}, cfg, deps)
	}
	call := func(path, body string, cookie *http.Cookie, session bool) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", path, strings.NewReader(body))
		r.RemoteAddr = "192.0.2.1:1"
		if session {
			r.Header.Set(SessionHeader, "cookie")
		}
		if cookie != nil {
			r.AddCookie(cookie)
		}
		w := httptest.NewRecorder()
		platform.RequestContext(platform.NewLogger(io.Discard, "gw", "error"))(h(path)).ServeHTTP(w, r)
		return w
	}
	cookieOf := func(w *httptest.ResponseRecorder) *http.Cookie {
		for _, c := range w.Result().Cookies() {
			if c.Name == SessionCookie {
				return c
			}
		}
		return nil
	}

	// without the header: the API as before, the token in the answer
	w := call("/api/v1/auth/login", `{"email":"a@b.c","password":"x"}`, nil, false)
	if !strings.Contains(w.Body.String(), `"refreshToken"`) || cookieOf(w) != nil {
		t.Fatalf("plain login: %s %v", w.Body, w.Result().Cookies())
	}
	// with it: the token in a cookie only
	rotations = 0
	w = call("/api/v1/auth/login", `{"email":"a@b.c","password":"x"}`, nil, true)
	c := cookieOf(w)
	if w.Code != 200 || strings.Contains(w.Body.String(), "refreshToken") || !strings.Contains(w.Body.String(), `"accessToken":"at"`) {
		t.Fatalf("cookie login: %d %s", w.Code, w.Body)
	}
	if c == nil || c.Value != "rt-1" || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/api/v1/auth" || c.MaxAge != 3600 {
		t.Fatalf("session cookie %+v", c)
	}
	// refresh: the cookie is the token sent to auth; the new one replaces it
	w = call("/api/v1/auth/refresh", ``, c, true)
	if w.Code != 200 || lastBody != `{"refreshToken":"rt-1"}` || cookieOf(w) == nil || cookieOf(w).Value != "rt-2" || strings.Contains(w.Body.String(), "rt-2") {
		t.Fatalf("refresh: %d %s, auth got %s, cookie %+v", w.Code, w.Body, lastBody, cookieOf(w))
	}
	// a refused token clears the cookie
	w = call("/api/v1/auth/refresh", ``, &http.Cookie{Name: SessionCookie, Value: "stale"}, true)
	if w.Code != 401 || cookieOf(w) == nil || cookieOf(w).MaxAge >= 0 {
		t.Fatalf("refused refresh: %d %+v", w.Code, cookieOf(w))
	}
	// no cookie: a problem, and auth is not asked
	lastBody = "untouched"
	w = call("/api/v1/auth/refresh", ``, nil, true)
	if w.Code != 401 || !strings.HasPrefix(w.Header().Get("Content-Type"), platform.ProblemContentType) || lastBody != "untouched" {
		t.Fatalf("refresh without a session: %d %s", w.Code, w.Body)
	}
	// logout sends the cookie's token and clears it
	w = call("/api/v1/auth/logout", ``, &http.Cookie{Name: SessionCookie, Value: "rt-9"}, true)
	if w.Code != 204 || lastBody != `{"refreshToken":"rt-9"}` || cookieOf(w) == nil || cookieOf(w).MaxAge >= 0 {
		t.Fatalf("logout: %d, auth got %s, cookie %+v", w.Code, lastBody, cookieOf(w))
	}
}
