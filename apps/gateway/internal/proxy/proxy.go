// Package proxy forwards public requests to services through the gateway's
// own Dapr sidecar (service invocation by the dapr-app-id header), streaming
// bodies both ways and keeping method, path, query, status and headers.
package proxy

import (
	"context"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/harmonia-music/harmonia/internal/platform"
)

// Proxy builds one reverse proxy per target app.
type Proxy struct {
	sidecar   *url.URL
	apiToken  string
	transport http.RoundTripper

	mu       sync.Mutex
	breakers map[string]*Breaker
}

// New returns a proxy that talks to the sidecar at base (http://127.0.0.1:3500).
func New(base, apiToken string) (*Proxy, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	return &Proxy{sidecar: u, apiToken: apiToken, breakers: map[string]*Breaker{}, transport: &http.Transport{
		// idle connections to the local sidecar close after 15 s: cheap to
		// open again, and the ones a frozen service made the gateway open
		// (each holds two goroutines) do not outlive it for long
		MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: 15 * time.Second,
		DisableCompression: true, ResponseHeaderTimeout: 60 * time.Second,
	}}, nil
}

// Headers a client may never set: the gateway asserts them.
var asserted = []string{platform.HeaderUserID, platform.HeaderUserRoles, platform.HeaderClientIP, platform.HeaderDevice,
	platform.HeaderAppToken, "dapr-app-id", "dapr-caller-app-id", "dapr-callee-app-id"}

// DeviceClass is the class of the client's device for analytics: the
// client's own X-Harmonia-Client (web, mobile, desktop, other) when it sends
// one, else a guess from its User-Agent.
func DeviceClass(h http.Header) string {
	switch c := strings.ToLower(strings.TrimSpace(h.Get("X-Harmonia-Client"))); c {
	case "web", "mobile", "desktop", "other":
		return c
	case "":
	default:
		return "other"
	}
	ua := strings.ToLower(h.Get("User-Agent"))
	switch {
	case ua == "":
		return "other"
	case strings.Contains(ua, "electron") || strings.Contains(ua, "harmonia-desktop"):
		return "desktop"
	case strings.Contains(ua, "mobile") || strings.Contains(ua, "android") || strings.Contains(ua, "iphone") ||
		strings.Contains(ua, "ipad") || strings.Contains(ua, "okhttp") || strings.Contains(ua, "cfnetwork"):
		return "mobile"
	case strings.HasPrefix(ua, "mozilla/"):
		return "web"
	}
	return "other"
}

// BreakerFor is app's circuit breaker (one per app, shared by its routes).
func (p *Proxy) BreakerFor(app string) *Breaker {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.breakers[app]
	if !ok {
		b = &Breaker{}
		p.breakers[app] = b
	}
	return b
}

// To returns a handler that forwards to app, behind app's circuit breaker:
// while it is open the answer is 503 with Retry-After at once, and no
// goroutine or connection waits on a service that does not answer.
func (p *Proxy) To(app string) http.Handler {
	rp := p.reverseProxy(app)
	b := p.BreakerFor(app)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, wait := b.Allow(time.Now())
		if !ok {
			breakerRejections.WithLabelValues(app).Inc()
			platform.WriteError(w, r, &platform.Error{Kind: platform.KindUnavailable, Code: "service-unavailable",
				Detail: "the " + app + " service is failing; try again shortly", RetryAfter: int(math.Ceil(wait.Seconds()))})
			return
		}
		o := &outcome{}
		rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), outcomeKey{}, o)))
		b.Record(o.get(), time.Now())
	})
}

// outcome is what one forwarded request tells the breaker.
type outcome struct {
	mu sync.Mutex
	v  Outcome
}

func (o *outcome) set(v Outcome) {
	o.mu.Lock()
	o.v = v
	o.mu.Unlock()
}

func (o *outcome) get() Outcome {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.v
}

type outcomeKey struct{}

func setOutcome(ctx context.Context, v Outcome) {
	if o, ok := ctx.Value(outcomeKey{}).(*outcome); ok {
		o.set(v)
	}
}

func (p *Proxy) reverseProxy(app string) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Transport:     p.transport,
		FlushInterval: -1, // stream (server-sent events, audio) without buffering
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(p.sidecar)
			pr.Out.Host = p.sidecar.Host
			h := pr.Out.Header
			for _, name := range asserted {
				h.Del(name)
			}
			h.Del("Authorization") // verified here; services get the identity instead
			h.Set("dapr-app-id", app)
			if p.apiToken != "" {
				h.Set(platform.HeaderAppToken, p.apiToken)
			}
			ctx := pr.In.Context()
			h.Set(platform.HeaderRequestID, platform.RequestID(ctx))
			h.Set(platform.HeaderDevice, DeviceClass(pr.In.Header))
			if c, ok := ctx.Value(callerKey{}).(platform.Caller); ok {
				if c.UserID != "" {
					h.Set(platform.HeaderUserID, c.UserID)
					h.Set(platform.HeaderUserRoles, strings.Join(c.Roles, ","))
				}
				if c.ClientIP != "" {
					h.Set(platform.HeaderClientIP, c.ClientIP)
				}
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Del(platform.HeaderRequestID) // the gateway already set the same id
			if resp.StatusCode >= 500 {
				setOutcome(resp.Request.Context(), Failure)
			} else {
				setOutcome(resp.Request.Context(), Success)
			}
			if resp.StatusCode < 400 {
				return nil
			}
			mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
			if mt == platform.ProblemContentType {
				return nil
			}
			// Not an app's problem: the sidecar failed (target down, denied,
			// timed out). Say so without passing its internals on.
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			return &sidecarError{status: resp.StatusCode, body: string(body)}
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			var mbe *http.MaxBytesError
			var se *sidecarError
			switch {
			case errors.As(err, &mbe):
				setOutcome(r.Context(), Neutral)
				platform.WriteError(w, r, platform.E(platform.KindPayload, "payload-too-large", "the body is too large"))
			case errors.Is(context.Cause(r.Context()), ErrRouteDeadline):
				setOutcome(r.Context(), Failure)
				platform.Logger(r.Context()).Warn("route deadline passed", "app", app)
				platform.WriteError(w, r, &platform.Error{Kind: platform.KindUnavailable, Code: "service-unavailable",
					Detail: "the " + app + " service did not answer in time; try again shortly", RetryAfter: 1})
			case errors.Is(err, r.Context().Err()) && r.Context().Err() != nil:
				// the client went away; nobody to answer
				setOutcome(r.Context(), Neutral)
			case errors.As(err, &se) && se.status == http.StatusForbidden:
				// refused by an access-control policy: a deployment error
				setOutcome(r.Context(), Neutral)
				platform.Logger(r.Context()).Error("sidecar refused by policy", "app", app, "body", se.body)
				platform.WriteProblem(w, platform.Problem{Type: platform.ProblemTypeBase + "bad-gateway", Title: "Bad Gateway",
					Status: http.StatusBadGateway, Detail: "the gateway may not call this service", Instance: r.URL.Path,
					RequestID: platform.RequestID(r.Context())})
			case errors.As(err, &se):
				platform.Logger(r.Context()).Warn("sidecar error", "app", app, "status", se.status, "body", se.body)
				platform.WriteError(w, r, &platform.Error{Kind: platform.KindUnavailable, Code: "service-unavailable",
					Detail: "the " + app + " service is unavailable; try again shortly", RetryAfter: 1})
			default:
				setOutcome(r.Context(), Failure)
				platform.Logger(r.Context()).Warn("proxy error", "app", app, "error", err.Error())
				platform.WriteError(w, r, &platform.Error{Kind: platform.KindUnavailable, Code: "service-unavailable",
					Detail: "the " + app + " service is unavailable; try again shortly", RetryAfter: 1})
			}
		},
	}
}

// ErrRouteDeadline is the cause of a route's own deadline passing (a
// route's Timeout): the answer is 503 with Retry-After, not silence.
var ErrRouteDeadline = errors.New("the route's deadline passed")

// FirstByteDeadline gives a request until d for its answer to begin: if no
// status has been written by then, ctx ends with ErrRouteDeadline (and the
// proxy answers 503 with Retry-After). Once the answer has begun it may take
// as long as it needs: a long audio stream is not cut at d. stop releases
// the timer.
func FirstByteDeadline(w http.ResponseWriter, parent context.Context, d time.Duration) (http.ResponseWriter, context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sw := &startWriter{ResponseWriter: w}
	t := time.AfterFunc(d, func() {
		if sw.state.CompareAndSwap(waiting, expired) {
			cancel(ErrRouteDeadline)
		}
	})
	return sw, ctx, func() { t.Stop(); cancel(nil) }
}

const (
	waiting int32 = iota
	started
	expired
)

// startWriter notes when an answer begins.
type startWriter struct {
	http.ResponseWriter
	state atomic.Int32
}

func (w *startWriter) WriteHeader(code int) {
	w.state.CompareAndSwap(waiting, started)
	w.ResponseWriter.WriteHeader(code)
}

func (w *startWriter) Write(b []byte) (int, error) {
	w.state.CompareAndSwap(waiting, started)
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer (flushes).
func (w *startWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type sidecarError struct {
	status int
	body   string
}

func (e *sidecarError) Error() string { return "sidecar answered " + http.StatusText(e.status) }

type callerKey struct{}

// WithCaller is how the gateway's auth step hands the verified caller to the proxy.
// It uses its own context key, never platform's: identity headers a client
// sent must not be able to reach the proxy.
func WithCaller(r *http.Request, c platform.Caller) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), callerKey{}, c))
}
