// Package adapters connects albums to other services through Dapr.
package adapters

import (
	"context"
	"net/http"

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

// Users asks the users service for a listener's country.
type Users struct{ Invoker *dapr.Invoker }

// Country implements app.Profiles.
func (u Users) Country(ctx context.Context, userID string) (string, error) {
	var out struct {
		Country string `json:"country"`
	}
	err := u.Invoker.Call(ctx, "users", http.MethodGet, "/internal/users/"+userID, nil, &out)
	return out.Country, err
}
