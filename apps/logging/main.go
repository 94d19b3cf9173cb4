// Command logging keeps the audit log: audit.recorded events from every
// service, appended to a SHA-256 hash chain by one writer, people's ids as
// salted HMACs (forgotten with the salt), signed checkpoints, retention,
// and the admin's query and verification endpoints.
package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/harmonia-music/harmonia/apps/logging/internal/app"
	"github.com/harmonia-music/harmonia/apps/logging/internal/ports"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/audit"
	"github.com/harmonia-music/harmonia/internal/platform/dapr"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

func main() { platform.Main("logging", run) }

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	env := platform.NewEnv(getenv)
	common := platform.LoadCommon(env, "logging")
	store := env.String("LOGGING_STATE_STORE", "logging-store")
	pubsubName := env.String("PUBSUB_NAME", "pubsub")
	// audit.recorded comes in through a component with more workers than
	// pubsub's (components/pubsub-ingest.yaml): bigger batches
	ingest := env.String("LOGGING_INGEST_PUBSUB", "pubsub-ingest")
	secretStore := env.String("SECRET_STORE", "secretstore")
	checkpointEvery := env.Duration("LOGGING_CHECKPOINT_EVERY", time.Hour)
	purgeEvery := env.Duration("LOGGING_PURGE_EVERY", 24*time.Hour)
	maxBatch := env.Int("LOGGING_MAX_BATCH", 200)
	retention, err := days(env.String("LOGGING_RETENTION", "400d"))
	if err != nil {
		return fmt.Errorf("LOGGING_RETENTION: %w", err)
	}
	if err := env.Err(); err != nil {
		return err
	}
	svc := platform.NewService("logging", common, stdout)
	slog.SetDefault(svc.Log)
	sc := dapr.NewSidecar(common)
	defer sc.Close()
	if err := platform.WaitSidecar(ctx, svc); err != nil {
		return err
	}
	kv := dapr.NewStateStore(sc, store)
	secrets := dapr.NewSecrets(sc, secretStore)
	hmacKey, signing, err := keys(ctx, secrets, kv, common.Local, svc.Log)
	if err != nil {
		return err
	}
	m := newMetrics(svc.Metrics.Registry)
	w := app.NewWriter(kv, app.Config{HMACKey: hmacKey, SigningKey: signing, MaxBatch: maxBatch,
		Appended: func(n int) { m.entries.Add(float64(n)); m.batches.Inc() }})
	go w.Run(ctx)
	reader := &app.Reader{KV: kv, HMACKey: hmacKey, Public: signing.Public().(ed25519.PublicKey), Now: time.Now}
	rec := audit.New(dapr.NewPublisher(sc, pubsubName))
	ports.Routes(svc.Router, reader, rec)
	subs := &pubsub.Subscriptions{PubsubName: ingest, DeadLetterTopic: "deadletter"}
	ports.Events(svc.Router, subs, w)
	subs.Mount(svc.Router)
	go platform.Every(ctx, checkpointEvery, func(ctx context.Context) {
		if err := w.Checkpoint(ctx); err != nil && ctx.Err() == nil {
			svc.Log.Error("checkpoint not written", slog.String("error", err.Error()))
			return
		}
		m.checkpoints.Inc()
	})
	go platform.Every(ctx, purgeEvery, func(ctx context.Context) {
		n, err := w.Purge(ctx, time.Now().Add(-retention))
		m.purged.Add(float64(n))
		if err != nil && ctx.Err() == nil {
			svc.Log.Error("retention purge stopped", slog.Int("purged", n), slog.String("error", err.Error()))
		} else if n > 0 {
			svc.Log.Info("retention purge", slog.Int("purged", n))
		}
	})
	return svc.Run(ctx)
}

// keys are the HMAC key (where salts are kept) and the checkpoint signing
// key: secrets LOGGING_HMAC_KEY (32 characters or more) and
// LOGGING_SIGNING_KEY (an Ed25519 seed, 32 bytes in base64), required
// outside the local stack.
func keys(ctx context.Context, secrets *dapr.Secrets, kv state.KV, local bool, log *slog.Logger) ([]byte, ed25519.PrivateKey, error) {
	hk, err := dapr.Key(ctx, secrets, kv, local, log, dapr.KeySpec{Secret: "LOGGING_HMAC_KEY", Parse: dapr.TextKey,
		LocalKey: "key|hmac", Size: 32, Purpose: "where people's salts are kept"})
	if err != nil {
		return nil, nil, err
	}
	seed, err := dapr.Key(ctx, secrets, kv, local, log, dapr.KeySpec{Secret: "LOGGING_SIGNING_KEY", Parse: ed25519Seed,
		LocalKey: "key|signing", Size: ed25519.SeedSize, Purpose: "signs the audit chain's checkpoints"})
	if err != nil {
		return nil, nil, err
	}
	return hk, ed25519.NewKeyFromSeed(seed), nil
}

// ed25519Seed reads a base64 Ed25519 seed.
func ed25519Seed(v string) ([]byte, error) {
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err == nil && len(seed) != ed25519.SeedSize {
		err = fmt.Errorf("an Ed25519 seed is %d bytes, not %d", ed25519.SeedSize, len(seed))
	}
	return seed, err
}

// days reads a duration that may be given in days ("400d").
func days(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil || d < 1 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a duration (400d, 72h)", s)
	}
	return d, nil
}

type metrics struct {
	entries, batches, checkpoints, purged prometheus.Counter
}

func newMetrics(reg *prometheus.Registry) metrics {
	m := metrics{
		entries: prometheus.NewCounter(prometheus.CounterOpts{Name: "harmonia_audit_entries_total",
			Help: "Entries appended to the audit chain by this replica."}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{Name: "harmonia_audit_batches_total",
			Help: "Transactions that appended entries (each replaces the chain head under its ETag)."}),
		checkpoints: prometheus.NewCounter(prometheus.CounterOpts{Name: "harmonia_audit_checkpoints_total",
			Help: "Checkpoint rounds (a signed checkpoint when the head moved)."}),
		purged: prometheus.NewCounter(prometheus.CounterOpts{Name: "harmonia_audit_purged_total",
			Help: "Entries removed by retention."}),
	}
	reg.MustRegister(m.entries, m.batches, m.checkpoints, m.purged)
	return m
}
