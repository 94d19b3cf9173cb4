// Command albums owns artists, albums, tracks and their audio.
package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/harmonia-music/harmonia/apps/albums/internal/adapters"
	"github.com/harmonia-music/harmonia/apps/albums/internal/app"
	"github.com/harmonia-music/harmonia/apps/albums/internal/ports"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/audit"
	"github.com/harmonia-music/harmonia/internal/platform/dapr"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
)

func main() { platform.Main("albums", run) }

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	env := platform.NewEnv(getenv)
	common := platform.LoadCommon(env, "albums")
	cfg := app.Config{
		PreviewLength:    env.Duration("ALBUMS_PREVIEW_LENGTH", 30*time.Second),
		MaxAudioBytes:    env.Int("ALBUMS_MAX_AUDIO_BYTES", 10<<20),
		EntitlementWait:  env.Duration("ALBUMS_ENTITLEMENT_TIMEOUT", 300*time.Millisecond),
		IndexStaleness:   env.Duration("ALBUMS_INDEX_STALENESS", time.Second),
		EntitlementCache: env.Duration("ALBUMS_ENTITLEMENT_CACHE", 30*time.Second),
	}
	store := env.String("ALBUMS_STATE_STORE", "albums-store")
	media := env.String("ALBUMS_MEDIA_BINDING", "media")
	pubsubName := env.String("PUBSUB_NAME", "pubsub")
	outboxPubsub := env.String("OUTBOX_PUBSUB_NAME", dapr.OutboxPubsub)
	if err := env.Err(); err != nil {
		return err
	}
	svc := platform.NewService("albums", common, stdout)
	slog.SetDefault(svc.Log)
	sc := dapr.NewSidecar(common)
	defer sc.Close()
	inv := dapr.NewInvoker(sc)
	kv := dapr.NewStateStore(sc, store)
	service := app.New(cfg, kv, dapr.NewFiles(sc, media), adapters.Subscriptions{Invoker: inv}, adapters.Users{Invoker: inv},
		pubsub.NewRetrying(dapr.NewPublisher(sc, pubsubName)), nil)
	service.Audit = audit.New(dapr.NewPublisher(sc, pubsubName))
	ports.Routes(svc.Router, service, cfg.MaxAudioBytes)
	subs := &pubsub.Subscriptions{PubsubName: pubsubName, DeadLetterTopic: "deadletter", Inbox: kv}
	ports.Events(svc.Router, subs, service)
	dapr.ServeOutbox(sc, kv, svc.Router, subs, "albums", pubsubName, outboxPubsub)
	subs.Mount(svc.Router)
	go migrateAudio(ctx, svc.Log, service)
	go func() { // trending counts reach the store every few seconds
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				if err := service.FlushPlays(context.WithoutCancel(ctx)); err != nil {
					svc.Log.Warn("play counts not stored at shutdown", slog.String("error", err.Error()))
				}
				return
			case <-t.C:
				if err := service.FlushPlays(ctx); err != nil {
					svc.Log.Warn("could not store play counts", slog.String("error", err.Error()))
				}
			}
		}
	}()
	return svc.Run(ctx)
}

// migrateAudio folds the catalogue index of before sharding into its
// shards and stores in chunks the audio stored whole before chunking (at
// start, until it succeeds once: the sidecar may not answer yet).
func migrateAudio(ctx context.Context, log *slog.Logger, s *app.Service) {
	for wait := time.Second; ; wait = min(wait*2, time.Minute) {
		// the index of before sharding first: one document, folded into
		// the shards (nothing to do once done)
		err := s.MigrateIndex(ctx)
		n := 0
		if err == nil {
			n, err = s.MigrateAudio(ctx)
		}
		if err == nil {
			if n > 0 {
				log.Info("audio migrated to chunks", slog.Int("tracks", n))
			}
			return
		}
		log.Warn("audio migration to chunks failed; trying again", slog.String("error", err.Error()), slog.Duration("in", wait))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
