// Command playlists owns users' playlists.
package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/harmonia-music/harmonia/apps/playlists/internal/adapters"
	"github.com/harmonia-music/harmonia/apps/playlists/internal/app"
	"github.com/harmonia-music/harmonia/apps/playlists/internal/ports"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/audit"
	"github.com/harmonia-music/harmonia/internal/platform/dapr"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
)

func main() { platform.Main("playlists", run) }

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	env := platform.NewEnv(getenv)
	common := platform.LoadCommon(env, "playlists")
	store := env.String("PLAYLISTS_STATE_STORE", "playlists-store")
	pubsubName := env.String("PUBSUB_NAME", "pubsub")
	if err := env.Err(); err != nil {
		return err
	}
	svc := platform.NewService("playlists", common, stdout)
	slog.SetDefault(svc.Log)
	sc := dapr.NewSidecar(common)
	defer sc.Close()
	kv := dapr.NewStateStore(sc, store)
	service := app.New(kv, adapters.Albums{Invoker: dapr.NewInvoker(sc)}, pubsub.NewRetrying(dapr.NewPublisher(sc, pubsubName)), nil)
	service.Audit = audit.New(dapr.NewPublisher(sc, pubsubName))
	ports.Routes(svc.Router, service)
	subs := &pubsub.Subscriptions{PubsubName: pubsubName, DeadLetterTopic: "deadletter", Inbox: kv}
	ports.Events(svc.Router, subs, service)
	subs.Mount(svc.Router)
	return svc.Run(ctx)
}
