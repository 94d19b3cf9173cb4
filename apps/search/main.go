// Command search keeps a full-text index of the catalogue and the public
// playlists, fed by their events, and answers searches and suggestions.
package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/harmonia-music/harmonia/apps/search/internal/adapters"
	"github.com/harmonia-music/harmonia/apps/search/internal/app"
	"github.com/harmonia-music/harmonia/apps/search/internal/ports"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/dapr"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

func main() { platform.Main("search", run) }

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	env := platform.NewEnv(getenv)
	common := platform.LoadCommon(env, "search")
	// The index lives on local disk: under the launcher's data directory, or
	// the repository's .data/ (relative to apps/search/, the working
	// directory under the Dapr CLI); on Kubernetes, the pod's volume.
	dataDir := env.String("HARMONIA_DATA_DIR", "../../.data")
	dir := env.String("SEARCH_INDEX_DIR", filepath.Join(dataDir, "search", "index"))
	pubsubName := env.String("SEARCH_PUBSUB_NAME", env.String("PUBSUB_NAME", "pubsub"))
	retry := env.Duration("SEARCH_REBUILD_RETRY", 2*time.Second)
	if err := env.Err(); err != nil {
		return err
	}
	svc := platform.NewService("search", common, stdout)
	slog.SetDefault(svc.Log)
	sc := dapr.NewSidecar(common)
	defer sc.Close()
	service, needsRebuild, err := app.Open(app.Config{Dir: dir}, adapters.Exports{Invoker: dapr.NewInvoker(sc)}, svc.Log, nil)
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(context.Background())
	go service.Run(runCtx)
	defer func() { stop(); <-service.Done() }()

	rebuilds := make(chan struct{}, 1)
	reindex := func() {
		select {
		case rebuilds <- struct{}{}:
		default: // one is already asked for
		}
	}
	go rebuildLoop(ctx, svc.Log, service, rebuilds, retry)
	if needsRebuild {
		reindex()
	}
	ports.Routes(svc.Router, service, reindex)
	subs := &pubsub.Subscriptions{PubsubName: pubsubName, DeadLetterTopic: "deadletter", Inbox: state.NewRecent(200_000)}
	ports.Events(svc.Router, subs, service)
	subs.Mount(svc.Router)
	return svc.Run(ctx)
}

// rebuildLoop runs the rebuilds asked for, one at a time, retrying one that
// failed (the exports unreachable) until it succeeds.
func rebuildLoop(ctx context.Context, log *slog.Logger, s *app.Service, asked <-chan struct{}, retry time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-asked:
		}
		for {
			n, took, err := s.Rebuild(ctx)
			if err == nil {
				log.Info("search index rebuilt", slog.Int("documents", n), slog.Duration("took", took))
				break
			}
			if errors.Is(err, app.ErrRebuilding) || ctx.Err() != nil {
				break
			}
			log.Warn("search index rebuild failed; retrying", slog.String("error", err.Error()))
			select {
			case <-ctx.Done():
				return
			case <-time.After(retry):
			}
		}
	}
}
