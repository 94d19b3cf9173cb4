package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestBadInputIsAProblemNamingTheField(t *testing.T) {
	a := newAccount(t)
	long := strings.Repeat("x", 81)
	cases := []struct {
		name, method, path string
		auth               bool
		body               any
		status             int
		field              string
	}{
		{"register without email", "POST", "/auth/register", false, map[string]any{"password": "long-enough-pw", "displayName": "A"}, 400, "email"},
		{"register bad email", "POST", "/auth/register", false, map[string]any{"email": "not-an-email", "password": "long-enough-pw", "displayName": "A"}, 400, "email"},
		{"register short password", "POST", "/auth/register", false, map[string]any{"email": "x@example.com", "password": "short", "displayName": "A"}, 400, "password"},
		{"register long name", "POST", "/auth/register", false, map[string]any{"email": "x@example.com", "password": "long-enough-pw", "displayName": long}, 400, "displayName"},
		{"register bad country", "POST", "/auth/register", false, map[string]any{"email": "x@example.com", "password": "long-enough-pw", "displayName": "A", "country": "Portugal"}, 400, "country"},
		{"register too young", "POST", "/auth/register", false, map[string]any{"email": "x@example.com", "password": "long-enough-pw", "displayName": "A", "birthYear": 2024}, 400, "birthYear"},
		{"register bad phone", "POST", "/auth/register", false, map[string]any{"email": "x@example.com", "password": "long-enough-pw", "displayName": "A", "phone": "12345"}, 400, "phone"},
		{"register wrong type", "POST", "/auth/register", false, map[string]any{"email": "x@example.com", "password": 12345678901, "displayName": "A"}, 400, "password"},
		{"register unknown field", "POST", "/auth/register", false, map[string]any{"email": "x@example.com", "password": "long-enough-pw", "displayName": "A", "isAdmin": true}, 400, "isAdmin"},
		{"register malformed JSON", "POST", "/auth/register", false, `{"email": "x@example.com",`, 400, "body"},
		{"register empty body", "POST", "/auth/register", false, "", 400, "body"},
		{"login without password", "POST", "/auth/login", false, map[string]any{"email": "x@example.com"}, 400, "password"},
		{"refresh without token", "POST", "/auth/refresh", false, map[string]any{}, 400, "refreshToken"},
		{"patch bad phone", "PATCH", "/me", true, map[string]any{"phone": "call me"}, 400, "phone"},
		{"patch bad birth year type", "PATCH", "/me", true, map[string]any{"birthYear": "1990"}, 400, "birthYear"},
		{"patch unknown field", "PATCH", "/me", true, map[string]any{"id": "someone-else"}, 400, "id"},
		{"patch nothing", "PATCH", "/me", true, map[string]any{}, 400, "body"},
		{"patch remove name", "PATCH", "/me", true, map[string]any{"displayName": nil}, 400, "displayName"},
		{"preferences missing field", "PUT", "/me/preferences", true, map[string]any{"favouriteGenres": []string{}}, 400, "notifications"},
		{"preferences bad genre", "PUT", "/me/preferences", true, map[string]any{"favouriteGenres": []string{""}, "notifications": map[string]bool{}, "marketingOptIn": false}, 400, "favouriteGenres[0]"},
		{"follow bad id", "PUT", "/me/following/not-a-uuid", true, nil, 400, "artistId"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := ""
			if c.auth {
				tok = a.AccessToken
			}
			expectProblem(t, do(t, c.method, gw+c.path, tok, c.body), c.status, c.field)
		})
	}
	// nothing was half-written by the refused requests
	var p profile
	do(t, "GET", gw+"/me", a.AccessToken, nil).json(t, &p)
	if p.Phone != "" || p.BirthYear != 1990 || p.DisplayName == "" {
		t.Fatalf("a refused patch changed the profile: %+v", p)
	}
	expectProblem(t, login(t, "x@example.com", "long-enough-pw"), 401, "")

	r := do(t, "POST", gw+"/auth/login", "", "email=x", "Content-Type", "application/x-www-form-urlencoded")
	expectProblem(t, r, 415, "")
	big := `{"email":"` + strings.Repeat("a", 2<<20) + `"}`
	expectProblem(t, do(t, "POST", gw+"/auth/login", "", big), 413, "")
}

// Probes and metrics are not on the public port: each app serves them on
// its own admin listener (127.0.0.1 by default).
func TestProbesAndMetricsAreNotPublic(t *testing.T) {
	for _, p := range []string{"/readyz", "/metrics"} {
		if r := do(t, "GET", stack.GatewayURL+p, "", nil); r.Status != 404 && r.Status != 401 {
			t.Fatalf("the gateway's public port answers %s: %d", p, r.Status)
		}
	}
	expect(t, do(t, "GET", stack.GatewayURL+"/healthz", "", nil), 200)
	for _, a := range stack.Apps {
		base := fmt.Sprintf("http://127.0.0.1:%d", a.AdminPort)
		expect(t, do(t, "GET", base+"/readyz", "", nil), 200)
		if r := do(t, "GET", base+"/metrics", "", nil); !strings.Contains(string(r.Body), "# TYPE") {
			t.Fatalf("%s: no metrics on the admin listener", a.AppID)
		}
	}
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	expectProblem(t, do(t, "GET", gw+"/nothing-here", "", nil), 404, "")
	expectProblem(t, do(t, "POST", gw+"/auth/jwks", "", nil), 405, "")
}

func TestAppsRefuseCallsThatBypassTheirSidecar(t *testing.T) {
	a := newAccount(t)
	for _, app := range []string{"auth", "users"} {
		port, _ := appInfo(t, app)
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		r := do(t, "GET", base+"/api/v1/me", "", nil, "X-User-Id", a.UserID)
		p := expectProblem(t, r, 401, "")
		if !strings.HasSuffix(p.Type, "sidecar-only") {
			t.Fatalf("%s: %+v", app, p)
		}
		expectProblem(t, do(t, "DELETE", base+"/internal/accounts/"+a.UserID, "", nil), 401, "")
		// probes stay open for the orchestrator
		expect(t, do(t, "GET", base+"/healthz", "", nil), 200)
	}
	expect(t, login(t, a.Email, a.Password), 200)
}

func TestEveryRequestCrossesBothSidecars(t *testing.T) {
	_, gwMetrics := appInfo(t, "gateway")
	_, usersMetrics := appInfo(t, "users")
	sent := func() float64 {
		return metric(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", gwMetrics), "dapr_runtime_service_invocation_req_sent_total",
			map[string]string{"app_id": "gateway", "dst_app_id": "users"})
	}
	recv := func() float64 {
		return metric(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", usersMetrics), "dapr_runtime_service_invocation_req_recv_total",
			map[string]string{"app_id": "users", "src_app_id": "gateway"})
	}
	a := newAccount(t)
	sent0, recv0 := sent(), recv()
	const n = 25
	for i := 0; i < n; i++ {
		expect(t, do(t, "GET", gw+"/me", a.AccessToken, nil), 200)
	}
	if d := sent() - sent0; d < n {
		t.Fatalf("gateway's sidecar sent %v invocations to users for %d requests", d, n)
	}
	if d := recv() - recv0; d < n {
		t.Fatalf("users' sidecar received %v invocations from gateway for %d requests", d, n)
	}
}

func TestCORSAndOpenAPI(t *testing.T) {
	r := do(t, "OPTIONS", gw+"/me", "", nil, "Origin", "https://player.example", "Access-Control-Request-Method", "PATCH",
		"Access-Control-Request-Headers", "authorization,content-type")
	expect(t, r, http.StatusNoContent)
	if r.Header.Get("Access-Control-Allow-Origin") != "https://player.example" || !strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "PATCH") {
		t.Fatalf("preflight headers: %v", r.Header)
	}
	r = do(t, "GET", gw+"/openapi.json", "", nil)
	expect(t, r, 200)
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	r.json(t, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("not an OpenAPI 3 document: %.200s", r.Body)
	}
	for path, methods := range map[string][]string{"/api/v1/auth/register": {"post"}, "/api/v1/me": {"get", "patch", "delete"},
		"/api/v1/me/preferences": {"get", "put"}, "/api/v1/admin/users/{id}/roles": {"put"}} {
		for _, m := range methods {
			if _, ok := doc.Paths[path][m]; !ok {
				t.Errorf("OpenAPI lacks %s %s", strings.ToUpper(m), path)
			}
		}
	}
}

// Topics are scoped: only users may publish user.deleted. Another app's
// sidecar (even one holding its API token) is refused by Dapr itself.
func TestOnlyTheOwnerMayPublishAnEvent(t *testing.T) {
	publish := func(app string) response {
		for _, a := range stack.Apps {
			if a.AppID == app {
				return do(t, "POST", fmt.Sprintf("http://127.0.0.1:%d/v1.0/publish/pubsub/user.deleted", a.DaprHTTPPort), "",
					map[string]string{"userId": "01930000-0000-7000-8000-00000000dead", "deletedAt": "2026-11-27T00:00:00Z"},
					"dapr-api-token", a.DaprAPIToken)
			}
		}
		t.Fatalf("no app %s", app)
		return response{}
	}
	for _, app := range []string{"gateway", "albums", "payments"} {
		r := publish(app)
		if r.Status != 403 || !strings.Contains(string(r.Body), "ERR_PUBSUB_FORBIDDEN") {
			t.Fatalf("%s published user.deleted: %d %s", app, r.Status, r.Body)
		}
	}
	if r := publish("users"); r.Status != 204 {
		t.Fatalf("users could not publish its own event: %d %s", r.Status, r.Body)
	}
}
