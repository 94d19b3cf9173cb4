package ports

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/apps/gateway/internal/authn"
	"github.com/harmonia-music/harmonia/apps/gateway/internal/proxy"
	"github.com/harmonia-music/harmonia/apps/gateway/internal/ratelimit"
	"github.com/harmonia-music/harmonia/apps/gateway/internal/routes"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/token"
)

func TestRouteChain(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	var got *http.Request
	var gotBody string
	sidecarStatus, sidecarType, sidecarBody := 200, "application/json", `{"ok":true}`
	sidecar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		w.Header().Set("Content-Type", sidecarType)
		w.Header().Set("ETag", `"v1"`)
		w.WriteHeader(sidecarStatus)
		_, _ = io.WriteString(w, sidecarBody)
	}))
	defer sidecar.Close()
	px, _ := proxy.New(sidecar.URL, "sidecar-token")
	v := authn.NewVerifier(func(context.Context) (token.JWKS, error) {
		return token.JWKS{Keys: []token.JWK{token.PublicJWK("k", pub)}}, nil
	}, nil)
	deps := Deps{Verifier: v, Limiter: ratelimit.New(1, 2, nil), Proxy: px}
	cfg := Config{DefaultMaxBody: 64, CORSOrigins: []string{"*"}}
	mint := func(roles ...string) string {
		s, _ := token.Sign(token.Claims{Issuer: token.Issuer, Audience: token.Audience, Subject: "user-1", Roles: roles,
			ExpiresAt: time.Now().Add(time.Minute).Unix()}, "k", key)
		return "Bearer " + s
	}
	me := Handler(routes.Route{Method: "GET", Path: "/api/v1/me", App: "users", Access: routes.User}, cfg, deps)
	admin := Handler(routes.Route{Method: "PUT", Path: "/api/v1/admin/x", App: "auth", Access: routes.Admin}, cfg, deps)
	serve := func(h http.Handler, method, target, body string, hdr ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		r.RemoteAddr = "192.0.2.7:5555"
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		platform.RequestContext(platform.NewLogger(io.Discard, "gw", "error"))(h).ServeHTTP(w, r)
		return w
	}

	w := serve(me, "GET", "/api/v1/me?x=1", "", "Authorization", mint("listener"), platform.HeaderUserID, "someone-else",
		platform.HeaderUserRoles, "admin", "Range", "bytes=0-1", "If-Match", `"v0"`)
	if w.Code != 200 || w.Header().Get("ETag") != `"v1"` || len(w.Header().Values(platform.HeaderRequestID)) > 1 {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	h := got.Header
	if h.Get("dapr-app-id") != "users" || h.Get(platform.HeaderAppToken) != "sidecar-token" || h.Get(platform.HeaderUserID) != "user-1" ||
		h.Get(platform.HeaderUserRoles) != "listener" || h.Get(platform.HeaderClientIP) != "192.0.2.7" || h.Get("Authorization") != "" ||
		h.Get("Range") != "bytes=0-1" || h.Get("If-Match") != `"v0"` || got.URL.RawQuery != "x=1" || got.URL.Path != "/api/v1/me" {
		t.Fatalf("forwarded request: %s %v", got.URL, h)
	}

	if w := serve(me, "GET", "/api/v1/me", ""); w.Code != 401 || w.Header().Get("WWW-Authenticate") == "" {
		t.Fatalf("no token: %d", w.Code)
	}
	if w := serve(admin, "PUT", "/api/v1/admin/x", "", "Authorization", mint("listener")); w.Code != 403 {
		t.Fatalf("listener on admin route: %d", w.Code)
	}
	if w := serve(admin, "PUT", "/api/v1/admin/x", strings.Repeat("x", 65), "Authorization", mint("admin")); w.Code != 413 {
		t.Fatalf("oversize body: %d", w.Code)
	}
	// user-1's burst of 2 is spent (the 401 was anonymous, keyed by address; the 403 stopped before the limiter)
	if w := serve(me, "GET", "/api/v1/me", "", "Authorization", mint("listener")); w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("rate limit: %d", w.Code)
	}

	// a sidecar failure (not an app's problem) becomes a 503 problem; an app's problem passes as it is
	deps.Limiter = ratelimit.New(1000, 1000, nil)
	me = Handler(routes.Route{Method: "POST", Path: "/api/v1/me", App: "users", Access: routes.User}, cfg, deps)
	sidecarStatus, sidecarBody = 500, `{"errorCode":"ERR_DIRECT_INVOKE","message":"internal detail"}`
	w = serve(me, "POST", "/api/v1/me", `{"a":1}`, "Authorization", mint("listener"))
	if w.Code != 503 || w.Header().Get("Content-Type") != platform.ProblemContentType || strings.Contains(w.Body.String(), "internal detail") {
		t.Fatalf("sidecar failure: %d %s", w.Code, w.Body)
	}
	if gotBody != `{"a":1}` {
		t.Fatalf("body not forwarded: %q", gotBody)
	}
	sidecarStatus, sidecarType, sidecarBody = 409, platform.ProblemContentType, `{"type":"t","title":"Conflict","status":409,"detail":"taken"}`
	if w := serve(me, "POST", "/api/v1/me", `{}`, "Authorization", mint("listener")); w.Code != 409 || !strings.Contains(w.Body.String(), "taken") {
		t.Fatalf("app problem: %d %s", w.Code, w.Body)
	}
	sidecarStatus, sidecarType = 403, "application/json"
	if w := serve(me, "POST", "/api/v1/me", `{}`, "Authorization", mint("listener")); w.Code != 502 {
		t.Fatalf("policy refusal: %d", w.Code)
	}
}

func TestCORS(t *testing.T) {
	h := Edge(Config{CORSOrigins: []string{"https://ok.example"}}, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(418) }))
	pre := func(origin string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("OPTIONS", "/api/v1/me", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", "GET")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := pre("https://ok.example"); w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "https://ok.example" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	if w := pre("https://evil.example"); w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign origin allowed: %v", w.Header())
	}
}

// Junk tokens cost a signature check each: an address that sends them meets
// the rate limit, not an unlimited stream of 401s (tokens were verified
// before the limiter).
func TestJunkTokensAreRateLimitedBeforeVerification(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	fetches := 0
	v := authn.NewVerifier(func(context.Context) (token.JWKS, error) {
		fetches++
		return token.JWKS{Keys: []token.JWK{token.PublicJWK("k", pub)}}, nil
	}, nil)
	px, _ := proxy.New("http://127.0.0.1:1", "t")
	h := Handler(routes.Route{Method: "GET", Path: "/api/v1/me", App: "users", Access: routes.User},
		Config{DefaultMaxBody: 64}, Deps{Verifier: v, Limiter: ratelimit.New(1, 5, nil), Proxy: px})
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	codes := map[int]int{}
	for i := 0; i < 20; i++ {
		junk, _ := token.Sign(token.Claims{Issuer: token.Issuer, Audience: token.Audience, Subject: "x",
			ExpiresAt: time.Now().Add(time.Hour).Unix() + int64(i)}, "k", other) // the wrong key
		r := httptest.NewRequest("GET", "/api/v1/me", nil)
		r.RemoteAddr = "198.51.100.9:4000"
		r.Header.Set("Authorization", "Bearer "+junk)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		codes[w.Code]++
	}
	if codes[401] > 5 || codes[429] < 15 {
		t.Fatalf("answers to 20 junk tokens from one address: %v", codes)
	}
}

func TestClientIPReadsForwardedForFromTheRight(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.10/32")}
	for _, c := range []struct {
		name, peer, xff string
		trusted         []netip.Prefix
		want            string
	}{
		{"no proxies configured: the peer, whatever the header says", "203.0.113.5:1000", "1.2.3.4", nil, "203.0.113.5"},
		{"an untrusted peer's header is ignored", "203.0.113.5:1000", "1.2.3.4", proxies, "203.0.113.5"},
		{"behind one proxy: the entry it added", "10.1.1.1:1000", "198.51.100.7", proxies, "198.51.100.7"},
		{"the client's own leftmost entries are not believed", "10.1.1.1:1000", "127.0.0.1, 6.6.6.6, 198.51.100.7", proxies, "198.51.100.7"},
		{"two trusted hops are skipped", "10.1.1.1:1000", "6.6.6.6, 198.51.100.7, 192.0.2.10", proxies, "198.51.100.7"},
		{"several headers read as one list", "10.1.1.1:1000", "", proxies, "10.1.1.1"},
		{"a malformed hop stops the walk", "10.1.1.1:1000", "198.51.100.7, garbage", proxies, "10.1.1.1"},
		{"IPv6 peer", "[2001:db8::1]:443", "1.2.3.4", proxies, "2001:db8::1"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.peer
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := clientIP(r, c.trusted); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
	// two X-Forwarded-For headers are one list, in order
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.1.1.1:1"
	r.Header.Add("X-Forwarded-For", "6.6.6.6")
	r.Header.Add("X-Forwarded-For", "198.51.100.9, 10.2.2.2")
	if got := clientIP(r, proxies); got != "198.51.100.9" {
		t.Errorf("two headers: %s", got)
	}
}

// A service that does not answer (frozen: the connection is open, nothing
// comes back) costs a client the route's deadline, then 503 with
// Retry-After; a route without one would wait for the transport.
func TestRouteDeadlineAnswers503(t *testing.T) {
	release := make(chan struct{})
	frozen := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer frozen.Close()
	defer close(release)
	px, _ := proxy.New(frozen.URL, "t")
	h := Handler(routes.Route{Method: "GET", Path: "/api/v1/plans", App: "search", Access: routes.Public, Timeout: 50 * time.Millisecond},
		Config{DefaultMaxBody: 64}, Deps{Limiter: ratelimit.New(100, 100, nil), Proxy: px})
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/plans", nil))
		done <- w
	}()
	select {
	case w := <-done:
		if w.Code != 503 || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Header().Get("Content-Type"), "problem+json") {
			t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
		}
	case <-time.After(20 * time.Second): // a hang, not a timing assertion
		t.Fatal("the route's deadline did not end the request")
	}
}

// The live stream route: a ticket instead of a Bearer token (traded before
// forwarding, never forwarded), Accept forced to text/event-stream, a bad
// Last-Event-ID refused here (the sidecar would make any refusal a 500),
// and at most MaxStreamsPerUser streams of one listener at once.
func TestStreamRoute(t *testing.T) {
	release := make(chan struct{})
	type seen struct{ user, accept, query string }
	got := make(chan seen, 16)
	sidecar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Header.Get(platform.HeaderUserID), r.Header.Get("Accept"), r.URL.RawQuery}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, ": connected\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer sidecar.Close()
	defer close(release)
	px, _ := proxy.New(sidecar.URL, "")
	redeemed := map[string]bool{}
	deps := Deps{Verifier: authn.NewVerifier(func(context.Context) (token.JWKS, error) { return token.JWKS{}, nil }, nil),
		Limiter: ratelimit.New(1000, 1000, nil), Proxy: px,
		RedeemTicket: func(_ context.Context, app, ticket string) (string, error) {
			if app != "notifications" || ticket != "good" || redeemed[ticket] {
				return "", platform.E(platform.KindUnauthenticated, "invalid-ticket", "no")
			}
			redeemed[ticket] = true
			return "listener-1", nil
		}}
	h := Handler(routes.Route{Method: "GET", Path: "/api/v1/me/notifications/stream", App: "notifications", Access: routes.User, Stream: true},
		Config{DefaultMaxBody: 64}, deps)
	srv := httptest.NewServer(platform.RequestContext(platform.NewLogger(io.Discard, "gw", "error"))(h))
	defer srv.Close()
	open := func(query string, hdr ...string) *http.Response {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/me/notifications/stream"+query, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := open("?ticket=good&x=1", "Accept", "*/*")
	if resp.StatusCode != 200 {
		t.Fatalf("ticket: %d", resp.StatusCode)
	}
	s := <-got
	if s.user != "listener-1" || s.accept != "text/event-stream" || strings.Contains(s.query, "ticket") {
		t.Fatalf("forwarded %+v", s)
	}
	resp.Body.Close()
	if resp := open("?ticket=good"); resp.StatusCode != 401 { // used
		t.Fatalf("a used ticket: %d", resp.StatusCode)
	}
	if resp := open(""); resp.StatusCode != 401 {
		t.Fatalf("no credentials: %d", resp.StatusCode)
	}
	for _, bad := range []string{"abc", "-1", "1.5"} {
		redeemed["good"] = false
		resp := open("?ticket=good", "Last-Event-ID", bad)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(b), "Last-Event-ID") {
			t.Fatalf("Last-Event-ID %q: %d %s", bad, resp.StatusCode, b)
		}
	}
	// MaxStreamsPerUser at once, then one more is refused until one closes
	var open_ []*http.Response
	for i := 0; i < MaxStreamsPerUser; i++ {
		redeemed["good"] = false
		r := open("?ticket=good")
		if r.StatusCode != 200 {
			t.Fatalf("stream %d: %d", i, r.StatusCode)
		}
		<-got
		open_ = append(open_, r)
	}
	redeemed["good"] = false
	if r := open("?ticket=good"); r.StatusCode != 429 {
		t.Fatalf("stream past the limit: %d", r.StatusCode)
	}
	open_[0].Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for { // the gateway notices the closed stream soon after
		redeemed["good"] = false
		r := open("?ticket=good")
		r.Body.Close()
		if r.StatusCode == 200 {
			break
		}
		if r.StatusCode != 429 || time.Now().After(deadline) {
			t.Fatalf("after one closed: %d", r.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, o := range open_[1:] {
		o.Body.Close()
	}
}
