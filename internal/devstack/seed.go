package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// SeedAccount is an account the launcher creates so a new user has someone
// to sign in as. The administrator is created by auth itself at first start.
type SeedAccount struct {
	Email, Password, DisplayName, Country string
	BirthYear                             int
}

// DemoListener is the seed listener README names.
var DemoListener = SeedAccount{Email: "listener@harmonia.local", Password: "harmonia-listener",
	DisplayName: "Demo Listener", Country: "GB", BirthYear: 1995}

// AdminEmail and AdminDefaultPassword are auth's first-start administrator
// (the password is overridden by HARMONIA_ADMIN_PASSWORD).
const (
	AdminEmail           = "admin@harmonia.local"
	AdminDefaultPassword = "harmonia-admin-local"
)

// seed creates the demo listener through the public API, like a client
// would; an existing account (409) is fine, so seeding is idempotent.
func (s *Stack) seed(ctx context.Context) error {
	if s.info.GatewayURL == "" {
		return nil
	}
	body, _ := json.Marshal(map[string]any{"email": DemoListener.Email, "password": DemoListener.Password,
		"displayName": DemoListener.DisplayName, "country": DemoListener.Country, "birthYear": DemoListener.BirthYear})
	var last error
	for attempt := 0; attempt < 20; attempt++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.info.GatewayURL+"/api/v1/auth/register", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := httpClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusCreated, http.StatusConflict:
				return nil
			}
			last = fmt.Errorf("register %s answered %d: %s", DemoListener.Email, resp.StatusCode, b)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return last
}
