package platform_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/harmonia-music/harmonia/internal/platform"
)

func TestDecodeJSONNamesTheField(t *testing.T) {
	type body struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
	}
	cases := []struct {
		name, ct, in string
		status       int
		field        string
	}{
		{"ok", "application/json", `{"name":"a","count":1}`, 0, ""},
		{"unknown field", "application/json", `{"name":"a","admin":true}`, 400, "admin"},
		{"wrong type", "application/json", `{"count":"many"}`, 400, "count"},
		{"malformed", "application/json", `{"name":`, 400, "body"},
		{"syntax", "application/json", `{"name" "a"}`, 400, "body"},
		{"empty", "application/json", ``, 400, "body"},
		{"two objects", "application/json", `{} {}`, 400, "body"},
		{"form", "application/x-www-form-urlencoded", `name=a`, 415, ""},
		{"too large", "application/json", `{"name":"` + strings.Repeat("a", platform.DefaultMaxBody) + `"}`, 413, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/x", strings.NewReader(c.in))
			r.Header.Set("Content-Type", c.ct)
			var b body
			err := platform.DecodeJSON(httptest.NewRecorder(), r, &b)
			if c.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if got := platform.StatusOf(err); got != c.status {
				t.Fatalf("status %d want %d (%v)", got, c.status, err)
			}
			if c.field != "" {
				var e *platform.Error
				if !errors.As(err, &e) || len(e.Fields) != 1 || e.Fields[0].Field != c.field {
					t.Fatalf("fields of %v: want %q", err, c.field)
				}
			}
		})
	}
}

func TestWriteErrorHidesInternalText(t *testing.T) {
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/x", nil)
	platform.WriteError(w, r, errors.New("pq: password authentication failed for user root"))
	if w.Code != 500 || strings.Contains(w.Body.String(), "password") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if w.Header().Get("Content-Type") != platform.ProblemContentType {
		t.Fatal(w.Header())
	}
	w = httptest.NewRecorder()
	platform.WriteError(w, r, &platform.Error{Kind: platform.KindTooMany, Code: "slow", Detail: "slow down", RetryAfter: 7})
	var p platform.Problem
	_ = json.Unmarshal(w.Body.Bytes(), &p)
	if w.Code != 429 || w.Header().Get("Retry-After") != "7" || p.Detail != "slow down" || !strings.HasSuffix(p.Type, "/slow") {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
	// a problem passed on from another service keeps its content
	w = httptest.NewRecorder()
	platform.WriteError(w, r, &platform.UpstreamError{Status: 409, Problem: platform.Problem{Type: "t", Title: "Conflict", Status: 409, Detail: "taken"}})
	_ = json.Unmarshal(w.Body.Bytes(), &p)
	if w.Code != 409 || p.Detail != "taken" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

func TestServiceChain(t *testing.T) {
	svc := platform.NewService("t", platform.Common{AppAPIToken: "secret"}, new(strings.Builder))
	var seen platform.Caller
	svc.Router.HandleFunc("/api/v1/me", func(w http.ResponseWriter, r *http.Request) {
		seen, _ = platform.CallerFrom(r.Context())
		w.WriteHeader(204)
	})
	svc.Router.HandleFunc("/boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
	h := svc.Handler()
	call := func(path string, hdr ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := call("/api/v1/me", platform.HeaderUserID, "u1"); w.Code != 401 {
		t.Fatalf("no token: %d", w.Code)
	}
	if w := call("/api/v1/me", platform.HeaderAppToken, "wrong"); w.Code != 401 {
		t.Fatalf("wrong token: %d", w.Code)
	}
	w := call("/api/v1/me", platform.HeaderAppToken, "secret", platform.HeaderUserID, "u1", platform.HeaderUserRoles, "listener,admin")
	if w.Code != 204 || seen.UserID != "u1" || !seen.HasRole("admin") || w.Header().Get(platform.HeaderRequestID) == "" {
		t.Fatalf("%d %+v", w.Code, seen)
	}
	if w := call("/healthz"); w.Code != 200 {
		t.Fatalf("healthz needs no token: %d", w.Code)
	}
	if w := call("/boom", platform.HeaderAppToken, "secret"); w.Code != 500 || !strings.Contains(w.Body.String(), "internal") {
		t.Fatalf("panic: %d %s", w.Code, w.Body)
	}
	if w := call("/nope", platform.HeaderAppToken, "secret"); w.Code != 404 || w.Header().Get("Content-Type") != platform.ProblemContentType {
		t.Fatalf("404: %d", w.Code)
	}
	// probes and metrics are not on the app's port (the gateway's is public)
	for _, p := range []string{"/metrics", "/readyz"} {
		if w := call(p, platform.HeaderAppToken, "secret"); w.Code != 404 {
			t.Fatalf("%s on the app port: %d", p, w.Code)
		}
		if w := call(p); w.Code != 401 {
			t.Fatalf("%s without the app token: %d", p, w.Code)
		}
	}
	// but on the admin listener, labelled by route template, never the raw path
	admin := func(path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		svc.Admin.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		return w
	}
	m := admin("/metrics").Body.String()
	if !strings.Contains(m, `route="/api/v1/me"`) || strings.Contains(m, `route="/nope"`) || !strings.Contains(m, `route="unmatched"`) {
		t.Fatalf("metrics labels:\n%s", m)
	}
	if w := admin("/readyz"); w.Code != 200 {
		t.Fatalf("readyz: %d %s", w.Code, w.Body)
	}
}

func TestEnvCollectsEveryProblem(t *testing.T) {
	env := platform.NewEnv(func(k string) string {
		return map[string]string{"A": "x", "B": "1s", "C": "nope", "D": "a, b,,c"}[k]
	})
	if env.Int("A", 1) != 1 || env.Duration("B", 0).Seconds() != 1 || env.Bool("C", true) != true {
		t.Fatal("values")
	}
	if got := env.List("D", nil); strings.Join(got, "|") != "a|b|c" {
		t.Fatal(got)
	}
	env.Required("MISSING")
	err := env.Err()
	if err == nil || !strings.Contains(err.Error(), "A") || !strings.Contains(err.Error(), "C") || !strings.Contains(err.Error(), "MISSING") {
		t.Fatalf("%v", err)
	}
}

func TestEnvPrefixes(t *testing.T) {
	env := platform.NewEnv(func(k string) string {
		return map[string]string{"P": "10.0.0.0/8, 192.0.2.1, ::1", "BAD": "10.0.0.0/8, proxy.local"}[k]
	})
	got := env.Prefixes("P")
	if len(got) != 3 || got[0].String() != "10.0.0.0/8" || got[1].String() != "192.0.2.1/32" || got[2].String() != "::1/128" {
		t.Fatal(got)
	}
	if env.Err() != nil {
		t.Fatal(env.Err())
	}
	env.Prefixes("BAD")
	if err := env.Err(); err == nil || !strings.Contains(err.Error(), "proxy.local") {
		t.Fatalf("a host name accepted as a proxy: %v", err)
	}
}

func TestIfMatchVersion(t *testing.T) {
	cases := map[string]int{"": 0, "*": 0, `"v3"`: 3, `W/"v12"`: 12, `"v0"`: -1, `"abc"`: -1, "v7": 7}
	for h, want := range cases {
		r := httptest.NewRequest("PUT", "/x", nil)
		r.Header.Set("If-Match", h)
		got, err := platform.IfMatchVersion(r)
		if want < 0 {
			if platform.StatusOf(err) != 412 {
				t.Errorf("%q: %v", h, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("%q: %d %v", h, got, err)
		}
	}
	if platform.VersionETag(4) != `"v4"` {
		t.Fatal(platform.VersionETag(4))
	}
}

func TestAppTokenRequiredOutsideTheLocalStack(t *testing.T) {
	env := platform.NewEnv(func(string) string { return "" })
	platform.LoadCommon(env, "x")
	if err := env.Err(); err == nil || !strings.Contains(err.Error(), "APP_API_TOKEN") {
		t.Fatalf("an app without a token started outside the local stack: %v", err)
	}
	for _, vars := range []map[string]string{{"HARMONIA_LOCAL": "1"}, {"APP_API_TOKEN": "t"}} {
		env := platform.NewEnv(func(k string) string { return vars[k] })
		c := platform.LoadCommon(env, "x")
		if err := env.Err(); err != nil {
			t.Fatalf("%v: %v", vars, err)
		}
		if c.Local != (vars["HARMONIA_LOCAL"] == "1") {
			t.Fatal(c.Local)
		}
	}
}
