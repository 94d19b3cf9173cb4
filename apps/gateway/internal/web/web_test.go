package web_test

import (
	"compress/gzip"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/harmonia-music/harmonia/apps/gateway/internal/web"
)

func TestThePageNamesItsVersionedFilesUnderAStrictPolicy(t *testing.T) {
	s, err := web.Load()
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	s.Page(w, httptest.NewRequest("GET", "/album/x", nil))
	body := w.Body.String()
	if w.Code != 200 || w.Header().Get("Cache-Control") != "no-cache" || !strings.Contains(body, `src="`+s.Base()+`js/main.js"`) {
		t.Fatalf("page: %d %v\n%s", w.Code, w.Header(), body)
	}
	csp := w.Header().Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || strings.Contains(body, "<script>") || strings.Contains(body, "style=") {
		t.Errorf("inline script or style: CSP %q\n%s", csp, body)
	}
	// a file of this version: immutable, compressed when asked
	r := httptest.NewRequest("GET", s.Base()+"js/main.js", nil)
	r.Header.Set("Accept-Encoding", "gzip")
	w = httptest.NewRecorder()
	s.Asset(w, r)
	if w.Code != 200 || !strings.Contains(w.Header().Get("Cache-Control"), "immutable") || w.Header().Get("Content-Encoding") != "gzip" ||
		!strings.HasPrefix(w.Header().Get("Content-Type"), "text/javascript") {
		t.Fatalf("asset: %d %v", w.Code, w.Header())
	}
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := io.ReadAll(zr)
	if !strings.Contains(string(js), "import") {
		t.Fatalf("main.js: %q", js[:min(80, len(js))])
	}
	// another version, or no such file: 404
	for _, p := range []string{"/app/000000000000/js/main.js", s.Base() + "js/nope.js", s.Base() + "index.html"} {
		w = httptest.NewRecorder()
		s.Asset(w, httptest.NewRequest("GET", p, nil))
		if w.Code != 404 {
			t.Errorf("%s: %d", p, w.Code)
		}
	}
}
