// Package ports assembles the gateway's public router from the route table.
package ports

import (
	"context"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/harmonia-music/harmonia/apps/gateway/internal/authn"
	"github.com/harmonia-music/harmonia/apps/gateway/internal/proxy"
	"github.com/harmonia-music/harmonia/apps/gateway/internal/ratelimit"
	"github.com/harmonia-music/harmonia/apps/gateway/internal/routes"
	"github.com/harmonia-music/harmonia/internal/platform"
)

// Config tunes the edge.
type Config struct {
	DefaultMaxBody int64
	CORSOrigins    []string       // "*" allows any
	TrustedProxies []netip.Prefix // proxies whose X-Forwarded-For entries are believed (none: the peer is the client)
	OpenAPI        []byte
}

// MaxStreamsPerUser bounds one listener's open streams through a gateway
// replica (a few tabs and devices), so one account cannot hold the edge's
// connections.
const MaxStreamsPerUser = 5

// StreamLimit counts open streams by user; one is shared by every stream route.
type StreamLimit struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *StreamLimit) acquire(user string) (func(), bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	if c.n[user] >= MaxStreamsPerUser {
		return nil, false
	}
	c.n[user]++
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.n[user]--; c.n[user] <= 0 {
			delete(c.n, user)
		}
	}, true
}

// Deps are the gateway's collaborators.
type Deps struct {
	// Streams counts live streams (one per gateway; nil: one per route)
	Streams  *StreamLimit
	Verifier *authn.Verifier
	Limiter  *ratelimit.Limiter
	Proxy    *proxy.Proxy
	// RedeemTicket trades a stream ticket for its listener's id (one use).
	RedeemTicket func(ctx context.Context, app, ticket string) (string, error)
}

// Edge wraps the router with CORS (outermost, so errors carry CORS headers too).
func Edge(cfg Config, next http.Handler) http.Handler {
	allowAll := slices.Contains(cfg.CORSOrigins, "*")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && (allowAll || slices.Contains(cfg.CORSOrigins, origin)) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Expose-Headers", "ETag, Location, Retry-After, X-Request-Id, Content-Range, Accept-Ranges, Content-Length")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match, If-None-Match, If-Range, Idempotency-Key, Range, X-Request-Id")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Handler builds the per-route chain: identify, authorise, rate-limit, bound
// the body, forward.
func Handler(rt routes.Route, cfg Config, d Deps) http.Handler {
	fwd := d.Proxy.To(rt.App)
	if d.Streams == nil {
		d.Streams = &StreamLimit{}
	}
	maxBody := rt.MaxBody
	if maxBody == 0 {
		maxBody = cfg.DefaultMaxBody
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller := platform.Caller{ClientIP: clientIP(r, cfg.TrustedProxies)}
		ticket := ""
		if rt.Stream && r.Header.Get("Authorization") == "" {
			ticket = r.URL.Query().Get("ticket")
		}
		switch {
		case ticket != "":
			// a browser's EventSource: the ticket is traded here, before
			// forwarding, because a refusal on the stream itself would reach
			// the client as the sidecar's 500; it costs the address a token
			if ok, wait := d.Limiter.Allow("verify:" + caller.ClientIP); !ok {
				tooMany(w, r, wait)
				return
			}
			uid, err := d.RedeemTicket(r.Context(), rt.App, ticket)
			if err != nil {
				platform.WriteError(w, r, err)
				return
			}
			caller.UserID = uid
			q := r.URL.Query()
			q.Del("ticket")
			r.URL.RawQuery = q.Encode()
		case rt.Access != routes.Public:
			tok, ok := authn.BearerToken(r.Header.Get("Authorization"))
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="harmonia"`)
				platform.WriteError(w, r, authn.ErrMissing)
				return
			}
			// a token not verified before costs a signature check: the
			// caller's address pays for it before it is made, so a flood of
			// junk tokens meets the rate limit, not the CPU
			if !d.Verifier.Known(tok) {
				if ok, wait := d.Limiter.Allow("verify:" + caller.ClientIP); !ok {
					tooMany(w, r, wait)
					return
				}
			}
			claims, err := d.Verifier.Verify(r.Context(), tok)
			if err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="harmonia", error="invalid_token"`)
				platform.WriteError(w, r, err)
				return
			}
			caller.UserID, caller.Roles = claims.Subject, claims.Roles
			if rt.Access == routes.Admin && !caller.HasRole("admin") {
				platform.WriteError(w, r, platform.E(platform.KindForbidden, "forbidden", "this needs the admin role"))
				return
			}
		}
		if rt.Stream {
			// Checked here, not in the service: on a streaming call the
			// sidecar turns any refusal into a 500.
			if id := r.Header.Get("Last-Event-ID"); id != "" {
				if n, err := strconv.Atoi(strings.TrimSpace(id)); err != nil || n < 0 {
					platform.WriteError(w, r, platform.Invalid("Last-Event-ID", "must be the id of an event this stream sent (a whole number)"))
					return
				}
			}
			release, ok := d.Streams.acquire(caller.UserID)
			if !ok {
				platform.WriteError(w, r, &platform.Error{Kind: platform.KindTooMany, Code: "too-many-streams",
					Detail: "you have too many live streams open; close one first", RetryAfter: 5})
				return
			}
			defer release()
			// a stream outlives the server's read timeout; the sidecar
			// streams text/event-stream only when asked for exactly that
			rc := http.NewResponseController(w)
			_ = rc.SetReadDeadline(time.Time{})
			_ = rc.SetWriteDeadline(time.Time{})
			r.Header.Set("Accept", "text/event-stream")
		}
		key := "ip:" + caller.ClientIP
		if caller.UserID != "" {
			key = "user:" + caller.UserID
		}
		if ok, wait := d.Limiter.Allow(key); !ok {
			tooMany(w, r, wait)
			return
		}
		if r.ContentLength > maxBody {
			platform.WriteError(w, r, platform.E(platform.KindPayload, "payload-too-large",
				"the body is larger than "+strconv.FormatInt(maxBody, 10)+" bytes"))
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		if rt.Timeout > 0 { // the route's own deadline: a frozen service answers 503 in time
			dw, ctx, stop := proxy.FirstByteDeadline(w, r.Context(), rt.Timeout)
			defer stop()
			w, r = dw, r.WithContext(ctx)
		}
		if kind := sessionOf(rt.Path); kind != noSession && wantsSession(r) {
			serveSession(kind, w, proxy.WithCaller(r, caller), fwd)
			return
		}
		fwd.ServeHTTP(w, proxy.WithCaller(r, caller))
	})
}

func tooMany(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	platform.WriteError(w, r, &platform.Error{Kind: platform.KindTooMany, Code: "rate-limited",
		Detail: "too many requests; slow down", RetryAfter: int(wait.Seconds()) + 1})
}

// clientIP is the address a request came from. The peer is the client unless
// it is a trusted proxy; then X-Forwarded-For is read from the right, each
// trusted proxy skipped, and the first address that is not one is the
// client. The leftmost entries are whatever the client wrote, never believed
// past an untrusted hop.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	var addr netip.Addr
	if err == nil {
		addr = peer.Addr().Unmap()
	} else if addr, err = netip.ParseAddr(r.RemoteAddr); err != nil {
		return r.RemoteAddr
	}
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	if !isTrusted(addr) {
		return addr.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed hop: stop at the last address we can vouch for
		}
		addr = h.Unmap()
		if !isTrusted(addr) {
			return addr.String()
		}
	}
	return addr.String()
}
