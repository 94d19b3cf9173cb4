// Command logging keeps the audit log: audit.recorded events from every
// service, appended to a SHA-256 hash chain by one writer, people's ids as
// salted HMACs (forgotten with the salt), signed checkpoints, retention,
// and the admin's query and verification endpoints.
package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
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
	go every(ctx, checkpointEvery, func() {
		if err := w.Checkpoint(ctx); err != nil && ctx.Err() == nil {
			svc.Log.Error("checkpoint not written", slog.String("error", err.Error()))
			return
		}
		m.checkpoints.Inc()
	})
	go every(ctx, purgeEvery, func() {
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
// LOGGING_SIGNING_KEY (an Ed25519 seed, 32 bytes in base64). Outside the
// local stack both are required; locally keys kept in the state store
// stand in.
func keys(ctx context.Context, secrets *dapr.Secrets, kv state.KV, local bool, log *slog.Logger) ([]byte, ed25519.PrivateKey, error) {
	h, herr := secrets.Get(ctx, "LOGGING_HMAC_KEY")
	if herr == nil && len(h) < 32 {
		herr = errors.New("shorter than 32 characters")
	}
	s, serr := secrets.Get(ctx, "LOGGING_SIGNING_KEY")
	var seed []byte
	if serr == nil {
		seed, serr = base64.StdEncoding.DecodeString(strings.TrimSpace(s))
		if serr == nil && len(seed) != ed25519.SeedSize {
			serr = fmt.Errorf("an Ed25519 seed is %d bytes, not %d", ed25519.SeedSize, len(seed))
		}
	}
	if herr == nil && serr == nil {
		return []byte(h), ed25519.NewKeyFromSeed(seed), nil
	}
	if !local {
		return nil, nil, fmt.Errorf("logging needs the secrets LOGGING_HMAC_KEY (32 characters or more) and LOGGING_SIGNING_KEY "+
			"(a base64 Ed25519 seed) outside the local stack: %w", errors.Join(herr, serr))
	}
	log.Info("no LOGGING_HMAC_KEY or LOGGING_SIGNING_KEY secret: keys kept in the state store stand in (local stack)")
	hk, err := state.LocalKey(ctx, kv, "key|hmac", 32)
	if err != nil {
		return nil, nil, err
	}
	sk, err := state.LocalKey(ctx, kv, "key|signing", ed25519.SeedSize)
	if err != nil {
		return nil, nil, err
	}
	return hk, ed25519.NewKeyFromSeed(sk), nil
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

func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
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
