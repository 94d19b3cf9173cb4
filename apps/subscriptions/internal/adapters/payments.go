// Package adapters connects subscriptions to payments through Dapr.
package adapters

import (
	"context"
	"net/http"

	"github.com/harmonia-music/harmonia/apps/subscriptions/internal/app"
	"github.com/harmonia-music/harmonia/internal/platform/dapr"
)

// Payments calls the payments service's internal charge and refund operations.
type Payments struct{ Invoker *dapr.Invoker }

// Charge implements app.Payments.
func (p Payments) Charge(ctx context.Context, in app.ChargeRequest) (app.ChargeResult, error) {
	var out app.ChargeResult
	err := p.Invoker.Call(ctx, "payments", http.MethodPost, "/internal/charges", in, &out)
	return out, err
}

// Refund implements app.Payments.
func (p Payments) Refund(ctx context.Context, key string) error {
	return p.Invoker.Call(ctx, "payments", http.MethodPost, "/internal/refunds", map[string]string{"idempotencyKey": key}, nil)
}
