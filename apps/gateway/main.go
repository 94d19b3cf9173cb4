// Command gateway is Harmonia's public edge: it verifies access tokens,
// rate-limits, and forwards /api/v1 to services through its Dapr sidecar.
package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/harmonia-music/harmonia/apps/gateway/internal/authn"
	"github.com/harmonia-music/harmonia/apps/gateway/internal/openapi"
	"github.com/harmonia-music/harmonia/apps/gateway/internal/ports"
	"github.com/harmonia-music/harmonia/apps/gateway/internal/proxy"
	"github.com/harmonia-music/harmonia/apps/gateway/internal/ratelimit"
	"github.com/harmonia-music/harmonia/apps/gateway/internal/routes"
	"github.com/harmonia-music/harmonia/apps/gateway/internal/web"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/dapr"
	"github.com/harmonia-music/harmonia/internal/platform/token"
)

func main() { platform.Main("gateway", run) }

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	env := platform.NewEnv(getenv)
	common := platform.LoadCommon(env, "gateway")
	cfg := ports.Config{
		DefaultMaxBody: int64(env.Int("GATEWAY_MAX_BODY_BYTES", 1<<20)),
		CORSOrigins:    env.List("GATEWAY_CORS_ORIGINS", []string{"*"}),
		TrustedProxies: env.Prefixes("GATEWAY_TRUSTED_PROXIES"),
		OpenAPI:        openapi.Document,
	}
	rate := env.Float("GATEWAY_RATE_PER_SECOND", 50)
	burst := env.Int("GATEWAY_RATE_BURST", 100)
	if err := env.Err(); err != nil {
		return err
	}
	svc := platform.NewService("gateway", common, stdout)
	slog.SetDefault(svc.Log)
	sc := dapr.NewSidecar(common)
	defer sc.Close()
	inv := dapr.NewInvoker(sc)
	verifier := authn.NewVerifier(func(ctx context.Context) (token.JWKS, error) {
		var set token.JWKS
		err := inv.Call(ctx, "auth", http.MethodGet, "/api/v1/auth/jwks", nil, &set)
		return set, err
	}, nil)
	px, err := proxy.New("http://127.0.0.1:"+strconv.Itoa(common.DaprHTTPPort), common.DaprAPIToken)
	if err != nil {
		return err
	}
	deps := ports.Deps{Verifier: verifier, Limiter: ratelimit.New(rate, burst, nil), Proxy: px, Streams: &ports.StreamLimit{},
		RedeemTicket: func(ctx context.Context, app, ticket string) (string, error) {
			var out struct {
				UserID string `json:"userId"`
			}
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			err := inv.Call(ctx, app, http.MethodPost, "/internal/stream-tickets/redeem", map[string]string{"ticket": ticket}, &out)
			return out.UserID, err
		}}
	for _, rt := range routes.Table {
		svc.Router.Handle(rt.Path, ports.Handler(rt, cfg, deps)).Methods(rt.Method)
	}
	svc.Router.HandleFunc("/api/v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(cfg.OpenAPI)
	}).Methods(http.MethodGet)
	site, err := web.Load()
	if err != nil {
		return err
	}
	svc.Router.PathPrefix("/app/").HandlerFunc(site.Asset).Methods(http.MethodGet, http.MethodHead)
	for _, p := range web.Pages {
		svc.Router.HandleFunc(p, site.Page).Methods(http.MethodGet, http.MethodHead)
	}
	svc.Log.Info("web player", "base", site.Base(), "bytes", site.Size())
	// The gateway is the public edge: no app token, and identity headers from
	// clients are ignored (the proxy strips them and sets its own).
	handler := ports.Edge(cfg, platform.Chain(svc.Router, platform.RequestContext(svc.Log), platform.Recover()))
	return svc.ServeWith(ctx, handler)
}
