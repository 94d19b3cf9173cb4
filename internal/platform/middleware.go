package platform

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
)

// Middleware wraps a handler.
type Middleware func(http.Handler) http.Handler

// Chain applies mws so that the first one is the outermost.
func Chain(h http.Handler, mws ...Middleware) http.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// statusRecorder remembers the status and size written.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Flush lets streaming responses (server-sent events, audio) through.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// RequestContext gives each request an id (kept from X-Request-Id when sane),
// the trace id from traceparent, a logger carrying both, and the caller the
// gateway asserted.
func RequestContext(base *slog.Logger) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get(HeaderRequestID)
			if len(id) == 0 || len(id) > 64 || strings.ContainsAny(id, " \t\r\n") {
				id = newID()
			}
			trace := TraceIDFromParent(r.Header.Get("traceparent"))
			ctx := WithTraceID(WithRequestID(r.Context(), id), trace)
			ctx = WithLogger(ctx, base.With(slog.String("request_id", id), slog.String("trace_id", trace)))
			if uid := r.Header.Get(HeaderUserID); uid != "" {
				var roles []string
				if rs := r.Header.Get(HeaderUserRoles); rs != "" {
					roles = strings.Split(rs, ",")
				}
				ctx = WithCaller(ctx, Caller{UserID: uid, Roles: roles, ClientIP: r.Header.Get(HeaderClientIP)})
			} else if ip := r.Header.Get(HeaderClientIP); ip != "" {
				ctx = WithCaller(ctx, Caller{ClientIP: ip})
			}
			w.Header().Set(HeaderRequestID, id)
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// Recover turns a panic into a 500 problem and a log line with the stack.
func Recover() Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					Logger(r.Context()).Error("panic", slog.Any("value", v), slog.String("stack", string(debug.Stack())))
					WriteError(w, r, E(KindInternal, "internal", "panic"))
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// routeTemplate names the route for metrics and logs, never the raw path.
func routeTemplate(r *http.Request) string {
	if rt := mux.CurrentRoute(r); rt != nil {
		if t, err := rt.GetPathTemplate(); err == nil {
			return t
		}
	}
	return "unmatched"
}

// Observe records metrics by route template and writes one access-log line.
// It must run inside the router (router.Use) so the route is known.
func Observe(m *Metrics) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &statusRecorder{ResponseWriter: w}
			m.inflight.Inc()
			defer func() {
				m.inflight.Dec()
				v := recover()
				if v != nil {
					rec.status = http.StatusInternalServerError // counted, then handed on to Recover
				}
				observe(m, r, rec, time.Since(start))
				if v != nil {
					panic(v)
				}
			}()
			next.ServeHTTP(rec, r)
		})
	}
}

func observe(m *Metrics, r *http.Request, rec *statusRecorder, elapsed time.Duration) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	route := routeTemplate(r)
	m.requests.WithLabelValues(r.Method, route, strconv.Itoa(rec.status)).Inc()
	m.duration.WithLabelValues(r.Method, route).Observe(elapsed.Seconds())
	if route == "/healthz" || route == "/readyz" || route == "/metrics" {
		return
	}
	level := slog.LevelInfo
	if rec.status >= 500 {
		level = slog.LevelError
	}
	Logger(r.Context()).Log(r.Context(), level, "http",
		slog.String("method", r.Method), slog.String("route", route), slog.Int("status", rec.status),
		slog.Int64("bytes", rec.bytes), slog.Float64("ms", float64(elapsed.Microseconds())/1000))
}

// RequireAppToken refuses requests that do not carry the app API token the
// sidecar presents, so only the app's own sidecar can call it. Probes and
// metrics stay open for the orchestrator and Prometheus. An empty token
// disables the check (unit tests, or a CLI run without tokens).
func RequireAppToken(token string, open ...string) Middleware {
	openSet := map[string]bool{"/healthz": true}
	for _, p := range open {
		openSet[p] = true
	}
	return func(next http.Handler) http.Handler {
		if token == "" {
			return next
		}
		want := []byte(token)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if openSet[r.URL.Path] {
				next.ServeHTTP(w, r)
				return
			}
			got := []byte(r.Header.Get(HeaderAppToken))
			if subtle.ConstantTimeCompare(got, want) != 1 {
				WriteError(w, r, E(KindUnauthenticated, "sidecar-only", "this service only answers its Dapr sidecar"))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
