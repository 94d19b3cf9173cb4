// Command payments owns payment methods (tokenised), charges and refunds.
package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/harmonia-music/harmonia/apps/payments/internal/adapters"
	"github.com/harmonia-music/harmonia/apps/payments/internal/app"
	"github.com/harmonia-music/harmonia/apps/payments/internal/ports"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/audit"
	"github.com/harmonia-music/harmonia/internal/platform/dapr"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
)

func main() { platform.Main("payments", run) }

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	env := platform.NewEnv(getenv)
	common := platform.LoadCommon(env, "payments")
	store := env.String("PAYMENTS_STATE_STORE", "payments-store")
	chargeTimeout := env.Duration("PAYMENTS_CHARGE_TIMEOUT", 2*time.Second)
	slow := env.Duration("PAYMENTS_SIMULATOR_SLOW", 10*time.Second)
	pubsubName := env.String("PUBSUB_NAME", "pubsub")
	outboxPubsub := env.String("OUTBOX_PUBSUB_NAME", dapr.OutboxPubsub)
	if err := env.Err(); err != nil {
		return err
	}
	svc := platform.NewService("payments", common, stdout)
	slog.SetDefault(svc.Log)
	sc := dapr.NewSidecar(common)
	defer sc.Close()
	kv := dapr.NewStateStore(sc, store)
	service := app.New(kv, app.NewSimulator(slow, kv), adapters.Auth{Invoker: dapr.NewInvoker(sc)}, chargeTimeout, nil)
	service.Audit = audit.New(dapr.NewPublisher(sc, pubsubName))
	ports.Routes(svc.Router, service)
	subs := &pubsub.Subscriptions{PubsubName: pubsubName, DeadLetterTopic: "deadletter", Inbox: kv}
	ports.Events(svc.Router, subs, service)
	dapr.ServeOutbox(sc, kv, svc.Router, subs, "payments", pubsubName, outboxPubsub)
	subs.Mount(svc.Router)
	return svc.Run(ctx)
}
