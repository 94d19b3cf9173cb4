package dapr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	daprc "github.com/dapr/go-sdk/client"

	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

// Publisher publishes JSON events to one pub/sub component.
type Publisher struct {
	sc     *Sidecar
	pubsub string
}

// NewPublisher names the pub/sub component (e.g. "pubsub").
func NewPublisher(sc *Sidecar, component string) *Publisher {
	return &Publisher{sc: sc, pubsub: component}
}

// Publish sends an event contract as a CloudEvent's JSON data on its topic;
// one that lacks a required field is refused before it leaves.
func (p *Publisher) Publish(ctx context.Context, e events.Event) error {
	if err := events.Validate(e); err != nil {
		return err
	}
	c, err := p.sc.Client()
	if err != nil {
		return err
	}
	if err := c.PublishEvent(ctx, p.pubsub, e.Topic(), e, daprc.PublishEventWithContentType("application/json")); err != nil {
		return fmt.Errorf("publish %s: %w", e.Topic(), err)
	}
	return nil
}

// PublishJSON publishes v as a CloudEvent's JSON data on topic (for
// messages that are not event contracts: outbox notices).
func (p *Publisher) PublishJSON(ctx context.Context, topic string, v any) error {
	c, err := p.sc.Client()
	if err != nil {
		return err
	}
	if err := c.PublishEvent(ctx, p.pubsub, topic, v, daprc.PublishEventWithContentType("application/json")); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return nil
}

// PublishWithID publishes data as the CloudEvent id on topic (implements
// outbox.Publisher): a second publication of the same event carries the same
// id, which consumers skip.
func (p *Publisher) PublishWithID(ctx context.Context, topic, id string, data json.RawMessage) error {
	c, err := p.sc.Client()
	if err != nil {
		return err
	}
	ce, err := json.Marshal(map[string]any{"specversion": "1.0", "id": id, "source": p.sc.AppID(), "type": "com.dapr.event.sent",
		"datacontenttype": "application/json", "data": data})
	if err != nil {
		return err
	}
	if err := c.PublishEvent(ctx, p.pubsub, topic, ce, daprc.PublishEventWithContentType("application/cloudevents+json")); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return nil
}

// Secrets reads secrets from a secret store component.
type Secrets struct {
	sc    *Sidecar
	store string
}

// NewSecrets names the secret store component.
func NewSecrets(sc *Sidecar, component string) *Secrets { return &Secrets{sc: sc, store: component} }

// Get returns the secret's value (the entry named like the key), or "" with
// an error when the store has no such secret. A store that takes only DNS
// names (Kubernetes Secrets) keeps AUTH_SIGNING_KEY as auth-signing-key: when
// the name as given is not found, Get asks for that form (ClusterName).
func (s *Secrets) Get(ctx context.Context, key string) (string, error) {
	c, err := s.sc.Client()
	if err != nil {
		return "", err
	}
	m, err := c.GetSecret(ctx, s.store, key, nil)
	if err != nil || len(m) == 0 {
		if alt := ClusterName(key); alt != key {
			if m2, err2 := c.GetSecret(ctx, s.store, alt, nil); err2 == nil && len(m2) > 0 {
				m, err = m2, nil
			}
		}
	}
	if err != nil {
		return "", fmt.Errorf("secret %s/%s: %w", s.store, key, err)
	}
	if v, ok := m[key]; ok {
		return v, nil
	}
	for _, v := range m {
		return v, nil
	}
	return "", fmt.Errorf("secret %s/%s is empty", s.store, key)
}

// ClusterName is a secret's name as a Kubernetes Secret may carry it:
// lower case, dashes for underscores (AUTH_SIGNING_KEY → auth-signing-key).
func ClusterName(key string) string {
	return strings.ToLower(strings.ReplaceAll(key, "_", "-"))
}

// SecretGetter reads a secret (Secrets does, from the secret store).
type SecretGetter interface {
	Get(ctx context.Context, key string) (string, error)
}

// KeySpec names a key an app reads from the secret store.
type KeySpec struct {
	Secret   string                       // the secret's name, e.g. LOGGING_HMAC_KEY
	Parse    func(string) ([]byte, error) // checks and decodes the secret's value
	LocalKey string                       // where the local stack keeps its stand-in
	Size     int                          // the stand-in's size in bytes
	Purpose  string                       // for the log line and the error
}

// TextKey parses a secret used as it is: at least 32 characters.
func TextKey(v string) ([]byte, error) {
	if len(v) < 32 {
		return nil, errors.New("shorter than 32 characters")
	}
	return []byte(v), nil
}

// Key reads a key from the secret store. Outside the local stack it is
// required (the app fails closed); on the local stack, without the secret,
// random bytes kept in the app's state store stand in (created once).
func Key(ctx context.Context, secrets SecretGetter, kv state.KV, local bool, log *slog.Logger, k KeySpec) ([]byte, error) {
	v, err := secrets.Get(ctx, k.Secret)
	if err == nil {
		var b []byte
		if b, err = k.Parse(v); err == nil {
			return b, nil
		}
	}
	if !local {
		return nil, fmt.Errorf("the secret %s (%s) is required outside the local stack: %w", k.Secret, k.Purpose, err)
	}
	log.Info("no usable "+k.Secret+" secret: a key kept in the state store stands in (local stack)", slog.String("purpose", k.Purpose))
	return state.LocalKey(ctx, kv, k.LocalKey, k.Size)
}
