package dapr

import (
	"context"
	"fmt"

	daprc "github.com/dapr/go-sdk/client"

	"github.com/harmonia-music/harmonia/internal/events"
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

// Secrets reads secrets from a secret store component.
type Secrets struct {
	sc    *Sidecar
	store string
}

// NewSecrets names the secret store component.
func NewSecrets(sc *Sidecar, component string) *Secrets { return &Secrets{sc: sc, store: component} }

// Get returns the secret's value (the entry named like the key), or "" with
// an error when the store has no such secret.
func (s *Secrets) Get(ctx context.Context, key string) (string, error) {
	c, err := s.sc.Client()
	if err != nil {
		return "", err
	}
	m, err := c.GetSecret(ctx, s.store, key, nil)
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
