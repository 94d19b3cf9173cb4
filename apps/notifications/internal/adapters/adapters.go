// Package adapters connects notifications to users, subscriptions and its
// output bindings, all through its Dapr sidecar.
package adapters

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"time"

	daprc "github.com/dapr/go-sdk/client"

	"github.com/harmonia-music/harmonia/apps/notifications/internal/app"
	"github.com/harmonia-music/harmonia/internal/exports"
	"github.com/harmonia-music/harmonia/internal/platform/dapr"
)

// Users reads contacts and records opt-outs (service invocation).
type Users struct{ Invoker *dapr.Invoker }

// Contacts implements app.Contacts.
func (u Users) Contacts(ctx context.Context, ids []string) ([]exports.Contact, error) {
	var out exports.Contacts
	if err := u.Invoker.Call(ctx, "users", http.MethodPost, "/internal/contacts", exports.ContactsRequest{UserIDs: ids}, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// OptOut implements app.Contacts.
func (u Users) OptOut(ctx context.Context, userID string) error {
	return u.Invoker.Call(ctx, "users", http.MethodPost, "/internal/marketing-opt-outs/"+url.PathEscape(userID), nil, nil)
}

// Plans reads the plan catalogue from subscriptions.
type Plans struct{ Invoker *dapr.Invoker }

// Plans implements app.Plans.
func (p Plans) Plans(ctx context.Context) ([]app.Plan, error) {
	var out struct {
		Items []app.Plan `json:"items"`
	}
	err := p.Invoker.Call(ctx, "subscriptions", http.MethodGet, "/api/v1/plans", nil, &out)
	return out.Items, err
}

// Bindings sends through the output bindings named in component YAML:
// email (bindings.smtp) and sms (bindings.localstorage locally,
// bindings.twilio.sms in a cluster). No host or vendor is named here.
type Bindings struct {
	Sidecar      *dapr.Sidecar
	EmailBinding string // binding name, "email"
	SMSBinding   string // binding name, "sms"
}

// Email implements app.Channels: recipients and subject travel as request
// metadata, the HTML as the data.
func (b Bindings) Email(ctx context.Context, to, subject, html string) error {
	c, err := b.Sidecar.Client()
	if err != nil {
		return err
	}
	_, err = c.InvokeBinding(ctx, &daprc.InvokeBindingRequest{Name: b.EmailBinding, Operation: "create", Data: []byte(html),
		Metadata: map[string]string{"emailTo": to, "subject": subject}})
	if err != nil {
		return fmt.Errorf("email binding: %w", err)
	}
	return nil
}

// SMS implements app.Channels. toNumber is Twilio's recipient; fileName is
// the local file (the recipient and the time). The local storage binding
// base64-decodes data that parses as base64, so a text that would is sent
// with a trailing space.
func (b Bindings) SMS(ctx context.Context, to, text string, at time.Time) error {
	c, err := b.Sidecar.Client()
	if err != nil {
		return err
	}
	if _, err := base64.StdEncoding.DecodeString(text); err == nil {
		text += " "
	}
	name := fmt.Sprintf("%s-%s.txt", to, at.UTC().Format("20060102T150405.000000000Z"))
	_, err = c.InvokeBinding(ctx, &daprc.InvokeBindingRequest{Name: b.SMSBinding, Operation: "create", Data: []byte(text),
		Metadata: map[string]string{"toNumber": to, "fileName": name}})
	if err != nil {
		return fmt.Errorf("sms binding: %w", err)
	}
	return nil
}
