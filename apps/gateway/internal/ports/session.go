package ports

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/harmonia-music/harmonia/internal/platform"
)

// A browser keeps its refresh token where its scripts cannot read it: it
// asks for a cookie session with the header SessionHeader: cookie on
// sign-up, sign-in, refresh and sign-out. The gateway then moves the refresh
// token from auth's answer into an HttpOnly, Secure, SameSite=Strict cookie
// scoped to /api/v1/auth (the answer keeps the access token only), and on
// refresh and sign-out reads it back from that cookie. The custom header
// cannot be sent by a form of another site, and a script of another origin
// would need a CORS preflight the gateway does not grant with credentials.
const (
	SessionHeader = "X-Harmonia-Session"
	SessionCookie = "harmonia_refresh"
	sessionPath   = "/api/v1/auth"
)

// sessionRoute says what a cookie session changes on an auth route.
type sessionRoute int

const (
	noSession   sessionRoute = iota
	sessionOpen              // sign-up, sign-in: the answer's refresh token becomes the cookie
	sessionTurn              // refresh: the cookie is the request's token, the answer's the new cookie
	sessionEnd               // sign-out: the cookie is the request's token, then it is cleared
)

func sessionOf(path string) sessionRoute {
	switch path {
	case "/api/v1/auth/register", "/api/v1/auth/login":
		return sessionOpen
	case "/api/v1/auth/refresh":
		return sessionTurn
	case "/api/v1/auth/logout":
		return sessionEnd
	}
	return noSession
}

// serveSession forwards a cookie-session request through fwd.
func serveSession(kind sessionRoute, w http.ResponseWriter, r *http.Request, fwd http.Handler) {
	if kind == sessionTurn || kind == sessionEnd {
		c, err := r.Cookie(SessionCookie)
		if err != nil || c.Value == "" {
			if kind == sessionEnd { // nothing to end
				clearSession(w)
				w.WriteHeader(http.StatusNoContent)
				return
			}
			platform.WriteError(w, r, platform.E(platform.KindUnauthenticated, "no-session", "there is no session to refresh; sign in"))
			return
		}
		body, _ := json.Marshal(map[string]string{"refreshToken": c.Value})
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Set("Content-Type", "application/json")
	}
	rec := &capture{header: http.Header{}, status: http.StatusOK}
	fwd.ServeHTTP(rec, r)
	for k, vs := range rec.header {
		if k == "Content-Length" {
			continue
		}
		w.Header()[k] = vs
	}
	if kind == sessionEnd || (kind == sessionTurn && rec.status == http.StatusUnauthorized) {
		clearSession(w) // a refused token is gone for good (rotation)
	}
	if rec.status >= 200 && rec.status < 300 && kind != sessionEnd {
		var tok map[string]any
		if json.Unmarshal(rec.body.Bytes(), &tok) == nil {
			if rt, ok := tok["refreshToken"].(string); ok && rt != "" {
				maxAge := 30 * 24 * 3600
				if n, ok := tok["refreshExpiresIn"].(float64); ok && n > 0 {
					maxAge = int(n)
				}
				http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: rt, Path: sessionPath, MaxAge: maxAge,
					HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
				delete(tok, "refreshToken")
				b, _ := json.Marshal(tok)
				w.Header().Set("Content-Length", strconv.Itoa(len(b)))
				w.Header().Set("Cache-Control", "no-store")
				w.WriteHeader(rec.status)
				_, _ = w.Write(b)
				return
			}
		}
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
}

func clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: sessionPath, MaxAge: -1,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

// wantsSession says whether a request asks for a cookie session.
func wantsSession(r *http.Request) bool {
	return strings.EqualFold(strings.TrimSpace(r.Header.Get(SessionHeader)), "cookie")
}

// capture keeps a small answer (auth's tokens or problem) for rewriting.
type capture struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (c *capture) Header() http.Header { return c.header }
func (c *capture) WriteHeader(code int) {
	if !c.wrote {
		c.status, c.wrote = code, true
	}
}
func (c *capture) Write(b []byte) (int, error) {
	c.wrote = true
	if c.body.Len()+len(b) > 64<<10 {
		return 0, io.ErrShortWrite
	}
	return c.body.Write(b)
}
