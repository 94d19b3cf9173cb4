// Command users owns profiles, preferences and followed artists.
package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/harmonia-music/harmonia/apps/users/internal/adapters"
	"github.com/harmonia-music/harmonia/apps/users/internal/app"
	"github.com/harmonia-music/harmonia/apps/users/internal/ports"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/audit"
	"github.com/harmonia-music/harmonia/internal/platform/dapr"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
)

func main() { platform.Main("users", run) }

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	env := platform.NewEnv(getenv)
	common := platform.LoadCommon(env, "users")
	store := env.String("USERS_STATE_STORE", "users-store")
	pubsubName := env.String("PUBSUB_NAME", "pubsub")
	outboxPubsub := env.String("OUTBOX_PUBSUB_NAME", dapr.OutboxPubsub)
	retry := env.Duration("USERS_DELETION_RETRY", 30*time.Second)
	testHooks := env.Bool("USERS_TEST_HOOKS", false)
	if err := env.Err(); err != nil {
		return err
	}
	svc := platform.NewService("users", common, stdout)
	slog.SetDefault(svc.Log)
	sc := dapr.NewSidecar(common)
	defer sc.Close()
	kv := dapr.NewStateStore(sc, store)
	service := app.New(kv, adapters.AuthClient{Invoker: dapr.NewInvoker(sc)},
		pubsub.NewRetrying(dapr.NewPublisher(sc, pubsubName)), nil)
	service.Audit = audit.New(dapr.NewPublisher(sc, pubsubName))
	if testHooks {
		svc.Log.Warn("USERS_TEST_HOOKS is on: a display name can stop this process (tests only)")
		service.EnableTestHooks(os.Exit)
	}
	ports.Routes(svc.Router, service)
	subs := &pubsub.Subscriptions{PubsubName: pubsubName}
	dapr.ServeOutbox(sc, kv, svc.Router, subs, "users", pubsubName, outboxPubsub)
	subs.Mount(svc.Router)
	go finishDeletions(ctx, svc.Log, service, retry)
	return svc.Run(ctx)
}

// finishDeletions completes account deletions that an earlier process (or a
// failed call to auth) left unfinished: at start, then every interval.
func finishDeletions(ctx context.Context, log *slog.Logger, s *app.Service, every time.Duration) {
	finish := func(ctx context.Context) {
		if n, err := s.FinishDeletions(ctx); n > 0 || (err != nil && ctx.Err() == nil) {
			attrs := []any{slog.Int("finished", n)}
			if err != nil {
				attrs = append(attrs, slog.String("error", err.Error()))
			}
			log.Info("unfinished account deletions", attrs...)
		}
	}
	finish(ctx)
	platform.Every(ctx, every, finish)
}
