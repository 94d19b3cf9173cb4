// Package web serves the web player: plain ES modules and stylesheets,
// embedded in the gateway binary, with no build step. Files live under a
// versioned prefix (/app/<version>/, the version a hash of every file) and
// are cached for good; the page at / (and at every player path, so a reload
// keeps its place) is never cached and names that prefix. Every answer
// carries a strict Content-Security-Policy: scripts, styles, media and
// connections from this origin only, no inline script or style.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"
)

//go:embed static
var files embed.FS

// CSP is the policy of every page and file the player serves. blob: lets
// the page show an SVG chart it fetched with the admin's token, data: the
// covers it draws; worker-src covers the audio worklet that tests attach.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; worker-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Site is the player's files, loaded once.
type Site struct {
	Version string
	index   []byte
	files   map[string][]byte
	gzipped map[string][]byte // the same, compressed once at start
	started time.Time
}

// Load reads the embedded files and computes their version.
func Load() (*Site, error) {
	s := &Site{files: map[string][]byte{}, gzipped: map[string][]byte{}, started: time.Now()}
	var names []string
	err := fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "static/")
		s.files[name] = b
		names = append(names, name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		h.Write([]byte(n))
		h.Write([]byte{0})
		h.Write(s.files[n])
	}
	s.Version = hex.EncodeToString(h.Sum(nil))[:12]
	s.index = bytes.ReplaceAll(s.files["index.html"], []byte("{{base}}"), []byte(s.Base()))
	delete(s.files, "index.html")
	for n, b := range s.files {
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		_, _ = zw.Write(b)
		_ = zw.Close()
		if z.Len() < len(b) {
			s.gzipped[n] = z.Bytes()
		}
	}
	return s, nil
}

// Base is the versioned prefix of the player's files.
func (s *Site) Base() string { return "/app/" + s.Version + "/" }

// Pages are the player's own paths: each answers the page, and the page's
// router shows the view.
var Pages = []string{"/", "/signin", "/signup", "/search", "/album/{id}", "/artist/{id}", "/playlists", "/playlist/{id}",
	"/me", "/plans", "/notifications", "/admin", "/admin/{section}"}

func headers(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
}

// Page serves the page (any of Pages).
func (s *Site) Page(w http.ResponseWriter, r *http.Request) {
	headers(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", s.started, bytes.NewReader(s.index))
}

// Asset serves /app/<version>/<file>. A file of another version answers
// 404: an old page asking for files that changed should be reloaded.
func (s *Site) Asset(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, s.Base())
	b, found := s.files[rest]
	if !ok || !found {
		headers(w)
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	headers(w)
	ct := mime.TypeByExtension(path.Ext(rest))
	switch path.Ext(rest) {
	case ".js":
		ct = "text/javascript; charset=utf-8"
	case ".css":
		ct = "text/css; charset=utf-8"
	case ".svg":
		ct = "image/svg+xml"
	case ".webmanifest":
		ct = "application/manifest+json"
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("Vary", "Accept-Encoding")
	etag := `"` + s.Version + `"`
	if z, ok := s.gzipped[rest]; ok && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") && r.Header.Get("Range") == "" {
		w.Header().Set("Content-Encoding", "gzip")
		b, etag = z, `"`+s.Version+`-gz"`
	}
	w.Header().Set("ETag", etag)
	http.ServeContent(w, r, "", s.started, bytes.NewReader(b))
}

// Size is the bytes of the page and every file (for the docs' page weight).
func (s *Site) Size() int {
	n := len(s.index)
	for _, b := range s.files {
		n += len(b)
	}
	return n
}
