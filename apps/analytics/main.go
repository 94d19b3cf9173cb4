// Command analytics keeps exact daily rollups of plays, listeners,
// subscriptions and revenue from the events every service publishes,
// answers the admin's reports as JSON, CSV and SVG charts, and writes every
// event it consumes to a raw export for a warehouse.
package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/harmonia-music/harmonia/apps/analytics/internal/app"
	"github.com/harmonia-music/harmonia/apps/analytics/internal/ports"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/dapr"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
)

func main() { platform.Main("analytics", run) }

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	env := platform.NewEnv(getenv)
	common := platform.LoadCommon(env, "analytics")
	store := env.String("ANALYTICS_STATE_STORE", "analytics-store")
	// events come in through a component with more workers than pubsub's
	// (components/pubsub-ingest.yaml): bigger batches
	pubsubName := env.String("ANALYTICS_INGEST_PUBSUB", "pubsub-ingest")
	exportBinding := env.String("ANALYTICS_EXPORT_BINDING", "analytics-export")
	maxBatch := env.Int("ANALYTICS_MAX_BATCH", 500)
	if err := env.Err(); err != nil {
		return err
	}
	svc := platform.NewService("analytics", common, stdout)
	slog.SetDefault(svc.Log)
	sc := dapr.NewSidecar(common)
	defer sc.Close()
	if err := platform.WaitSidecar(ctx, svc); err != nil {
		return err
	}
	events := prometheus.NewCounter(prometheus.CounterOpts{Name: "harmonia_analytics_events_total",
		Help: "Events counted into the rollups (each once, after its batch committed)."})
	batches := prometheus.NewCounter(prometheus.CounterOpts{Name: "harmonia_analytics_batches_total",
		Help: "Batches committed (counters under their ETags, markers, event ids, one raw export file each)."})
	svc.Metrics.Registry.MustRegister(events, batches)
	service, err := app.New(dapr.NewStateStore(sc, store), exporter{dapr.NewFiles(sc, exportBinding)}, app.Config{MaxBatch: maxBatch,
		Flushed: func(n int) { events.Add(float64(n)); batches.Inc() }})
	if err != nil {
		return err
	}
	go service.Run(ctx)
	ports.Routes(svc.Router, service, time.Now)
	subs := &pubsub.Subscriptions{PubsubName: pubsubName, DeadLetterTopic: "deadletter"}
	ports.Events(svc.Router, subs, service)
	subs.Mount(svc.Router)
	return svc.Run(ctx)
}

// exporter writes the raw export through the output binding named in
// component YAML (local files; Kafka or object storage in a cluster).
type exporter struct{ files *dapr.Files }

func (e exporter) Export(ctx context.Context, name string, ndjson []byte) error {
	return e.files.Put(ctx, name, ndjson)
}
