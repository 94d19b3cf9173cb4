// Package adapters connects payments to other services through Dapr.
package adapters

import (
	"context"
	"net/http"

	"github.com/harmonia-music/harmonia/internal/platform/dapr"
)

// Auth verifies that an account may be billed.
type Auth struct{ Invoker *dapr.Invoker }

// Verify implements app.Billing.
func (a Auth) Verify(ctx context.Context, userID string) error {
	return a.Invoker.Call(ctx, "auth", http.MethodPost, "/internal/billing/verify", map[string]string{"userId": userID}, nil)
}
