// Package adapters connects albums to other services through Dapr.
package adapters

import (
	"context"
	"net/http"
	"net/url"

	"github.com/harmonia-music/harmonia/apps/albums/internal/app"
	"github.com/harmonia-music/harmonia/internal/platform/dapr"
)

// Subscriptions asks the subscriptions service for entitlements.
type Subscriptions struct{ Invoker *dapr.Invoker }

// FullAccess implements app.Entitlements.
func (s Subscriptions) FullAccess(ctx context.Context, userID string) (bool, error) {
	var out struct {
		FullAccess bool `json:"fullAccess"`
	}
	err := s.Invoker.Call(ctx, "subscriptions", http.MethodGet, "/internal/entitlements/"+userID, nil, &out)
	return out.FullAccess, err
}

// Users asks the users service for a listener's country and birth year.
type Users struct{ Invoker *dapr.Invoker }

// Listener implements app.Profiles.
func (u Users) Listener(ctx context.Context, userID string) (app.Listener, error) {
	var out app.Listener
	err := u.Invoker.Call(ctx, "users", http.MethodGet, "/internal/users/"+url.PathEscape(userID), nil, &out)
	return out, err
}
