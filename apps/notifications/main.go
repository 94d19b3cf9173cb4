// Command notifications tells listeners what concerns them: in-app (with a
// live stream), by email and by text message, through Dapr output bindings
// chosen in component YAML.
package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/harmonia-music/harmonia/apps/notifications/internal/adapters"
	"github.com/harmonia-music/harmonia/apps/notifications/internal/app"
	"github.com/harmonia-music/harmonia/apps/notifications/internal/domain"
	"github.com/harmonia-music/harmonia/apps/notifications/internal/ports"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/audit"
	"github.com/harmonia-music/harmonia/internal/platform/dapr"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

func main() { platform.Main("notifications", run) }

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	env := platform.NewEnv(getenv)
	common := platform.LoadCommon(env, "notifications")
	store := env.String("NOTIFICATIONS_STATE_STORE", "notifications-store")
	pubsubName := env.String("PUBSUB_NAME", "pubsub")
	outboxPubsub := env.String("OUTBOX_PUBSUB_NAME", dapr.OutboxPubsub)
	// The live broadcast (notifications.delivered) must reach every replica:
	// on Kubernetes a pub/sub component with a per-pod consumerID.
	livePubsub := env.String("NOTIFICATIONS_LIVE_PUBSUB", pubsubName)
	secretStore := env.String("SECRET_STORE", "secretstore")
	cfg := app.Config{
		BaseURL:          env.String("HARMONIA_PUBLIC_URL", "http://localhost:8080"),
		ContactTTL:       env.Duration("NOTIFICATIONS_CONTACT_TTL", 5*time.Minute),
		InterruptedAfter: env.Duration("NOTIFICATIONS_INTERRUPTED_AFTER", 2*time.Minute),
		FanoutWorkers:    env.Int("NOTIFICATIONS_FANOUT_WORKERS", 4),
	}
	heartbeat := env.Duration("NOTIFICATIONS_HEARTBEAT", 15*time.Second)
	emailBinding := env.String("NOTIFICATIONS_EMAIL_BINDING", "email")
	smsBinding := env.String("NOTIFICATIONS_SMS_BINDING", "sms")
	if err := env.Err(); err != nil {
		return err
	}
	svc := platform.NewService("notifications", common, stdout)
	slog.SetDefault(svc.Log)
	sc := dapr.NewSidecar(common)
	defer sc.Close()
	if err := platform.WaitSidecar(ctx, svc); err != nil {
		return err
	}
	kv := dapr.NewStateStore(sc, store)
	// the key that signs unsubscribe links
	key, err := dapr.Key(ctx, dapr.NewSecrets(sc, secretStore), kv, common.Local, svc.Log, dapr.KeySpec{Secret: "NOTIFICATIONS_LINK_KEY",
		Parse: dapr.TextKey, LocalKey: "linkkey|local", Size: 32, Purpose: "signs unsubscribe links"})
	if err != nil {
		return err
	}
	cfg.LinkKey = key
	m := newMetrics(svc.Metrics.Registry)
	cfg.JobDone = func(j domain.Job, took time.Duration) {
		m.fanouts.Inc()
		m.lastFanout.Set(took.Seconds())
		m.lastReached.Set(float64(j.Delivered))
	}
	cfg.Sent = func(channel, status string) { m.messages.WithLabelValues(channel, status).Inc() }
	inv := dapr.NewInvoker(sc)
	service, err := app.New(kv, adapters.Users{Invoker: inv},
		adapters.Bindings{Sidecar: sc, EmailBinding: emailBinding, SMSBinding: smsBinding},
		dapr.NewPublisher(sc, livePubsub), adapters.Plans{Invoker: inv}, cfg, nil)
	if err != nil {
		return err
	}
	service.Audit = audit.New(dapr.NewPublisher(sc, pubsubName))
	svc.Metrics.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "harmonia_notifications_live_streams", Help: "Live notification streams open on this replica.",
	}, func() float64 { return float64(service.Hub.Streams()) }))
	ports.Routes(svc.Router, service, ports.Config{Heartbeat: heartbeat, Closing: ctx.Done()})
	subs := &pubsub.Subscriptions{PubsubName: pubsubName, DeadLetterTopic: "deadletter", Inbox: state.NewRecent(200_000)}
	live := &pubsub.Subscriptions{PubsubName: livePubsub, DeadLetterTopic: "deadletter"}
	ports.Events(svc.Router, subs, live, service)
	subs.Merge(live)
	dapr.ServeOutbox(sc, kv, svc.Router, subs, "notifications", pubsubName, outboxPubsub)
	subs.Mount(svc.Router)
	go service.RunJobs(ctx, 5*time.Second)
	go platform.Every(ctx, time.Minute, func(ctx context.Context) { sweep(ctx, svc.Log, service) })
	return svc.Run(ctx)
}

// sweep reports sends interrupted by a crash as failed.
func sweep(ctx context.Context, log *slog.Logger, s *app.Service) {
	if n, err := s.Sweep(ctx); n > 0 || (err != nil && ctx.Err() == nil) {
		attrs := []any{slog.Int("interrupted", n)}
		if err != nil {
			attrs = append(attrs, slog.String("error", err.Error()))
		}
		log.Warn("messages left pending by an interrupted send are now failed", attrs...)
	}
}

type metrics struct {
	fanouts     prometheus.Counter
	lastFanout  prometheus.Gauge
	lastReached prometheus.Gauge
	messages    *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) metrics {
	m := metrics{
		fanouts: prometheus.NewCounter(prometheus.CounterOpts{Name: "harmonia_notifications_fanouts_total",
			Help: "Fan-outs (a release to followers, an offer to the audience) finished."}),
		lastFanout: prometheus.NewGauge(prometheus.GaugeOpts{Name: "harmonia_notifications_fanout_last_seconds",
			Help: "How long the last finished fan-out took, from its event to its last listener."}),
		lastReached: prometheus.NewGauge(prometheus.GaugeOpts{Name: "harmonia_notifications_fanout_last_reached",
			Help: "Listeners the last finished fan-out reached."}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "harmonia_notifications_messages_total",
			Help: "Emails and text messages by channel and outcome (sent, failed)."}, []string{"channel", "status"}),
	}
	reg.MustRegister(m.fanouts, m.lastFanout, m.lastReached, m.messages)
	return m
}
