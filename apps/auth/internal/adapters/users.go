// Package adapters connects auth to other services through Dapr.
package adapters

import (
	"context"
	"net/http"

	"github.com/harmonia-music/harmonia/apps/auth/internal/app"
	"github.com/harmonia-music/harmonia/internal/platform/dapr"
)

// UsersClient creates profiles in the users service by service invocation.
type UsersClient struct{ Invoker *dapr.Invoker }

// Create implements app.Profiles.
func (u UsersClient) Create(ctx context.Context, p app.NewProfile) error {
	return u.Invoker.Call(ctx, "users", http.MethodPost, "/internal/users", p, nil)
}
