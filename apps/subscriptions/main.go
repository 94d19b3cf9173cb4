// Command subscriptions owns plans, subscriptions, family members,
// entitlements and the checkout saga (a Dapr Workflow).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/dapr/durabletask-go/workflow"

	"github.com/harmonia-music/harmonia/apps/subscriptions/internal/adapters"
	"github.com/harmonia-music/harmonia/apps/subscriptions/internal/app"
	"github.com/harmonia-music/harmonia/apps/subscriptions/internal/ports"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/audit"
	"github.com/harmonia-music/harmonia/internal/platform/dapr"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
)

func main() { platform.Main("subscriptions", run) }

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	env := platform.NewEnv(getenv)
	common := platform.LoadCommon(env, "subscriptions")
	cfg := app.Config{
		Period:               env.Duration("SUBSCRIPTIONS_PERIOD", 30*24*time.Hour),
		RenewalRetryInterval: env.Duration("SUBSCRIPTIONS_RENEWAL_RETRY_INTERVAL", 24*time.Hour),
		RenewalAttempts:      env.Int("SUBSCRIPTIONS_RENEWAL_ATTEMPTS", 3),
		ActivityAttempts:     env.Int("SUBSCRIPTIONS_ACTIVITY_ATTEMPTS", 6),
		ActivityRetryTimeout: env.Duration("SUBSCRIPTIONS_ACTIVITY_RETRY_TIMEOUT", 30*time.Second),
		RefundRetryTimeout:   env.Duration("SUBSCRIPTIONS_REFUND_RETRY_TIMEOUT", 24*time.Hour),
		TestHooks:            env.Bool("SUBSCRIPTIONS_TEST_HOOKS", false),
	}
	store := env.String("SUBSCRIPTIONS_STATE_STORE", "subscriptions-store")
	pubsubName := env.String("PUBSUB_NAME", "pubsub")
	outboxPubsub := env.String("OUTBOX_PUBSUB_NAME", dapr.OutboxPubsub)
	if err := env.Err(); err != nil {
		return err
	}
	svc := platform.NewService("subscriptions", common, stdout)
	slog.SetDefault(svc.Log)
	sc := dapr.NewSidecar(common)
	defer sc.Close()
	inv := dapr.NewInvoker(sc)
	kv := dapr.NewStateStore(sc, store)
	service := app.New(cfg, kv, adapters.Payments{Invoker: inv}, adapters.Accounts{Invoker: inv},
		pubsub.NewRetrying(dapr.NewPublisher(sc, pubsubName)), nil)
	service.Audit = audit.New(dapr.NewPublisher(sc, pubsubName))
	conn, err := sc.Conn()
	if err != nil {
		return err
	}
	wf := workflow.NewClient(conn)
	service.SetWorkflows(app.WorkflowClient{C: wf})
	reg := workflow.NewRegistry()
	if err := service.Register(reg); err != nil {
		return err
	}
	ports.Routes(svc.Router, service)
	subs := &pubsub.Subscriptions{PubsubName: pubsubName, DeadLetterTopic: "deadletter", Inbox: kv}
	ports.Events(svc.Router, subs, service)
	dapr.ServeOutbox(sc, kv, svc.Router, subs, "subscriptions", pubsubName, outboxPubsub)
	subs.Mount(svc.Router)
	seeded := make(chan struct{})
	svc.AddCheck("plans", func(context.Context) error {
		select {
		case <-seeded:
			return nil
		default:
			return fmt.Errorf("plans not seeded yet")
		}
	})

	// The workflow engine and the state store answer once the sidecar is up;
	// the app port must already be open for that, so serve first.
	ready := make(chan error, 1)
	go func() { ready <- svc.Run(ctx) }()
	if err := startWorker(ctx, svc, wf, reg); err != nil {
		return err
	}
	if err := service.SeedPlans(ctx); err != nil {
		return fmt.Errorf("plans: %w", err)
	}
	close(seeded)
	return <-ready
}

func startWorker(ctx context.Context, svc *platform.Service, wf *workflow.Client, reg *workflow.Registry) error {
	var err error
	for attempt := 0; attempt < 240; attempt++ {
		if err = wf.StartWorker(ctx, reg); err == nil {
			svc.Log.Info("workflow worker started")
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return fmt.Errorf("workflow worker: %w", err)
}
