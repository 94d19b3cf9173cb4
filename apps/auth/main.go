// Command auth owns credentials, access and refresh tokens, and roles.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/harmonia-music/harmonia/apps/auth/internal/adapters"
	"github.com/harmonia-music/harmonia/apps/auth/internal/app"
	"github.com/harmonia-music/harmonia/apps/auth/internal/domain"
	"github.com/harmonia-music/harmonia/apps/auth/internal/ports"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/audit"
	"github.com/harmonia-music/harmonia/internal/platform/dapr"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
)

func main() { platform.Main("auth", run) }

// DefaultAdminPassword is the local-only administrator password used when the
// secret store has no HARMONIA_ADMIN_PASSWORD. README names it.
const DefaultAdminPassword = "harmonia-admin-local"

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	env := platform.NewEnv(getenv)
	common := platform.LoadCommon(env, "auth")
	cfg := app.Config{
		AccessTTL:  env.Duration("AUTH_ACCESS_TTL", 15*time.Minute),
		RefreshTTL: env.Duration("AUTH_REFRESH_TTL", 30*24*time.Hour),
		AccountThrottle: domain.ThrottlePolicy{MaxFailures: env.Int("AUTH_ACCOUNT_MAX_FAILURES", 5),
			Window: env.Duration("AUTH_THROTTLE_WINDOW", 15*time.Minute), Lockout: env.Duration("AUTH_LOCKOUT", 15*time.Minute)},
		AddressThrottle: domain.AddressPolicy{Burst: env.Int("AUTH_ADDRESS_MAX_FAILURES", 50),
			Refill: env.Duration("AUTH_ADDRESS_REFILL", 20*time.Second)},
		Argon2:     app.DefaultArgon2,
		AdminEmail: env.String("HARMONIA_ADMIN_EMAIL", "admin@harmonia.local"),
	}
	store := env.String("AUTH_STATE_STORE", "auth-store")
	pubsubName := env.String("PUBSUB_NAME", "pubsub")
	secretStore := env.String("SECRET_STORE", "secretstore")
	if err := env.Err(); err != nil {
		return err
	}
	svc := platform.NewService("auth", common, stdout)
	slog.SetDefault(svc.Log)
	sc := dapr.NewSidecar(common)
	defer sc.Close()
	secrets := dapr.NewSecrets(sc, secretStore)

	// Secrets come through Dapr's secret store; wait for the sidecar first.
	if err := platform.WaitSidecar(ctx, svc); err != nil {
		return err
	}
	pw, seed, err := loadSecrets(ctx, secrets.Get, common.Local)
	if err != nil {
		return err
	}
	cfg.AdminPassword, cfg.Local = pw, common.Local
	if kek, err := secrets.Get(ctx, "AUTH_KEY_ENCRYPTION_KEY"); err == nil && kek != "" {
		if cfg.KeyEncryptionKey, err = app.ParseKEK(kek); err != nil {
			return err
		}
	} else if common.Local {
		svc.Log.Warn("no AUTH_KEY_ENCRYPTION_KEY: signing keys are sealed with a key that lasts until auth restarts (the launcher provides one)")
	}
	if seed != "" {
		if cfg.SigningSeed, err = app.ParseSeed(seed); err != nil {
			return err
		}
	}
	pub := pubsub.NewRetrying(dapr.NewPublisher(sc, pubsubName))
	service, err := app.New(cfg, dapr.NewStateStore(sc, store), adapters.UsersClient{Invoker: dapr.NewInvoker(sc)}, pub, nil)
	if err != nil {
		return err
	}
	service.Audit = audit.New(pub)
	if err := service.Keys.Load(ctx); err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	ports.Routes(svc.Router, service)
	svc.AddCheck("admin", service.AdminExists)
	go func() {
		if err := service.EnsureAdmin(ctx); err != nil && ctx.Err() == nil {
			svc.Log.Error("admin bootstrap failed", slog.String("error", err.Error()))
		}
	}()
	return svc.Run(ctx)
}

// loadSecrets reads the administrator's first password and the signing
// key. Outside the local stack both are required and a secret store that
// does not answer stops auth: it never falls back to a published default.
// Locally a missing secret means the documented defaults (the local admin
// password, keys kept in the state store).
func loadSecrets(ctx context.Context, get func(context.Context, string) (string, error), local bool) (password, seed string, err error) {
	password, perr := get(ctx, "ADMIN_PASSWORD")
	seed, serr := get(ctx, "AUTH_SIGNING_KEY")
	if local {
		if perr != nil || password == "" {
			password = DefaultAdminPassword
		}
		if serr != nil {
			seed = ""
		}
		return password, seed, nil
	}
	var missing []error
	if perr != nil || password == "" {
		missing = append(missing, fmt.Errorf("secret ADMIN_PASSWORD: %v", errOr(perr, "empty")))
	}
	if serr != nil || seed == "" {
		missing = append(missing, fmt.Errorf("secret AUTH_SIGNING_KEY: %v", errOr(serr, "empty")))
	}
	if len(missing) > 0 {
		return "", "", fmt.Errorf("auth needs its secrets from the secret store outside the local stack (HARMONIA_LOCAL=1 is for a developer's machine): %w",
			errors.Join(missing...))
	}
	return password, seed, nil
}

func errOr(err error, s string) string {
	if err != nil {
		return err.Error()
	}
	return s
}
