package platform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/mux"
)

// Check is one readiness check.
type Check func(ctx context.Context) error

// Service is the HTTP skeleton every app shares: router, middleware chain,
// probes, metrics and graceful shutdown.
type Service struct {
	Name    string
	Config  Common
	Log     *slog.Logger
	Metrics *Metrics
	Router  *mux.Router
	Admin   *mux.Router // /healthz, /readyz and /metrics, served on Config.AdminAddr

	mu     sync.Mutex
	checks map[string]Check
}

// NewService builds the skeleton. The readiness check of the sidecar is added
// unless the app has no sidecar port configured.
func NewService(name string, cfg Common, stdout io.Writer) *Service {
	s := &Service{
		Name:    name,
		Config:  cfg,
		Log:     NewLogger(stdout, name, cfg.LogLevel),
		Metrics: NewMetrics(name),
		Router:  mux.NewRouter(),
		checks:  map[string]Check{},
	}
	// mux runs Use middleware only on matched routes: observe the fallbacks too
	s.Router.NotFoundHandler = Observe(s.Metrics)(NotFoundHandler())
	s.Router.MethodNotAllowedHandler = Observe(s.Metrics)(MethodNotAllowedHandler())
	s.Router.Use(Observe(s.Metrics))
	healthz := func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
	s.Router.HandleFunc("/healthz", healthz).Methods(http.MethodGet)
	// probes and metrics live on their own listener (AdminAddr), never on
	// the app's port: the gateway's port is public
	s.Admin = mux.NewRouter()
	s.Admin.HandleFunc("/healthz", healthz).Methods(http.MethodGet)
	s.Admin.HandleFunc("/readyz", s.ready).Methods(http.MethodGet)
	s.Admin.Handle("/metrics", s.Metrics.Handler()).Methods(http.MethodGet)
	if cfg.DaprHTTPPort > 0 {
		s.AddCheck("sidecar", SidecarCheck(cfg.DaprHTTPPort, cfg.DaprAPIToken))
	}
	return s
}

// AddCheck registers a readiness check.
func (s *Service) AddCheck(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = c
}

func (s *Service) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	s.mu.Lock()
	checks := make(map[string]Check, len(s.checks))
	for k, v := range s.checks {
		checks[k] = v
	}
	s.mu.Unlock()
	out := map[string]string{}
	ok := true
	for name, c := range checks {
		if err := c(ctx); err != nil {
			out[name] = err.Error()
			ok = false
		} else {
			out[name] = "ok"
		}
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	WriteJSON(w, status, map[string]any{"ready": ok, "checks": out})
}

// SidecarCheck asks the sidecar whether its components are up.
func SidecarCheck(port int, apiToken string) Check {
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/v1.0/healthz/outbound"
	client := &http.Client{Timeout: 2 * time.Second}
	return func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if apiToken != "" {
			req.Header.Set(HeaderAppToken, apiToken)
		}
		resp, err := client.Do(req)
		if err != nil {
			return errors.New("sidecar unreachable")
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			return fmt.Errorf("sidecar answered %d", resp.StatusCode)
		}
		return nil
	}
}

// Handler is the full chain: request context, panic recovery, the app-token
// wall, then the router (which observes metrics by route template).
func (s *Service) Handler() http.Handler {
	return Chain(s.Router, RequestContext(s.Log), Recover(), RequireAppToken(s.Config.AppAPIToken))
}

// StartPprof serves net/http/pprof on 127.0.0.1:PPROF_PORT when configured
// (benchmarks); Run calls it, apps with their own server call it themselves.
func (s *Service) StartPprof(ctx context.Context) {
	if s.Config.PprofPort <= 0 {
		return
	}
	go func() {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		_ = Serve(ctx, s.Log, "127.0.0.1:"+strconv.Itoa(s.Config.PprofPort), mux, time.Second)
	}()
}

// Run serves the app (Handler) and its admin listener until ctx ends.
func (s *Service) Run(ctx context.Context) error { return s.ServeWith(ctx, s.Handler()) }

// ServeWith serves h on the app's port and the admin listener beside it
// until ctx ends, then drains in-flight requests. Either listener failing
// stops both.
func (s *Service) ServeWith(ctx context.Context, h http.Handler) error {
	s.StartPprof(ctx)
	if s.Config.AdminAddr == "" {
		return Serve(ctx, s.Log, s.Config.BindHost+":"+strconv.Itoa(s.Config.Port), h, s.Config.ShutdownWait)
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	admin := make(chan error, 1)
	go func() {
		err := Serve(ctx, s.Log, s.Config.AdminAddr, Chain(s.Admin, Recover()), s.Config.ShutdownWait)
		stop()
		admin <- err
	}()
	err := Serve(ctx, s.Log, s.Config.BindHost+":"+strconv.Itoa(s.Config.Port), h, s.Config.ShutdownWait)
	stop()
	return errors.Join(err, <-admin)
}

// Serve runs an HTTP server with sane timeouts until ctx ends.
func Serve(ctx context.Context, log *slog.Logger, addr string, h http.Handler, shutdownWait time.Duration) error {
	srv := &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute, // audio uploads
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	log.Info("listening", slog.String("addr", addr))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// WaitSidecar returns once the sidecar's components answer: an app that
// reads secrets or state before it serves waits here (daprd's outbound
// health answers before the app listens).
func WaitSidecar(ctx context.Context, svc *Service) error {
	check := SidecarCheck(svc.Config.DaprHTTPPort, svc.Config.DaprAPIToken)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := check(cctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sidecar not ready: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Every runs f every interval until ctx ends (the first run after one
// interval; call f yourself for one at start).
func Every(ctx context.Context, interval time.Duration, f func(ctx context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f(ctx)
		}
	}
}
