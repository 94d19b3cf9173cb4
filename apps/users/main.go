// Command users owns profiles, preferences and followed artists.
package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/harmonia-music/harmonia/apps/users/internal/adapters"
	"github.com/harmonia-music/harmonia/apps/users/internal/app"
	"github.com/harmonia-music/harmonia/apps/users/internal/ports"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/dapr"
)

func main() { platform.Main("users", run) }

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	env := platform.NewEnv(getenv)
	common := platform.LoadCommon(env, "users")
	store := env.String("USERS_STATE_STORE", "users-store")
	pubsubName := env.String("PUBSUB_NAME", "pubsub")
	if err := env.Err(); err != nil {
		return err
	}
	svc := platform.NewService("users", common, stdout)
	slog.SetDefault(svc.Log)
	sc := dapr.NewSidecar(common)
	defer sc.Close()
	service := app.New(dapr.NewStateStore(sc, store), adapters.AuthClient{Invoker: dapr.NewInvoker(sc)},
		dapr.NewPublisher(sc, pubsubName), nil)
	ports.Routes(svc.Router, service)
	return svc.Run(ctx)
}
