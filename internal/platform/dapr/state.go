package dapr

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	daprc "github.com/dapr/go-sdk/client"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform/outbox"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

// StateStore is a state.KV on a Dapr state store component.
type StateStore struct {
	sc   *Sidecar
	name string
	// Metadata is sent with every transaction.
	Metadata map[string]string
	outbox   *OutboxSettings
}

// NewStateStore names the component (e.g. "auth-store").
func NewStateStore(sc *Sidecar, component string) *StateStore {
	return &StateStore{sc: sc, name: component}
}

// Get implements state.KV.
func (s *StateStore) Get(ctx context.Context, key string) ([]byte, string, error) {
	c, err := s.sc.Client()
	if err != nil {
		return nil, "", err
	}
	it, err := c.GetStateWithConsistency(ctx, s.name, key, nil, daprc.StateConsistencyStrong)
	if err != nil {
		return nil, "", fmt.Errorf("state get %s: %w", s.name, err)
	}
	if it == nil || (len(it.Value) == 0 && it.Etag == "") {
		return nil, "", state.ErrNotFound
	}
	return it.Value, it.Etag, nil
}

// GetMany implements state.KV with one bulk request.
func (s *StateStore) GetMany(ctx context.Context, keys []string) (map[string][]byte, error) {
	items, err := s.GetManyVersioned(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(items))
	for k, it := range items {
		out[k] = it.Value
	}
	return out, nil
}

// GetManyVersioned implements state.VersionedReader with one bulk request;
// a key without a value is absent.
func (s *StateStore) GetManyVersioned(ctx context.Context, keys []string) (map[string]state.Versioned, error) {
	if len(keys) == 0 { // the sidecar refuses a bulk read of no keys
		return map[string]state.Versioned{}, nil
	}
	c, err := s.sc.Client()
	if err != nil {
		return nil, err
	}
	items, err := c.GetBulkState(ctx, s.name, keys, nil, 8)
	if err != nil {
		return nil, fmt.Errorf("state bulk get %s: %w", s.name, err)
	}
	out := make(map[string]state.Versioned, len(items))
	for _, it := range items {
		if it.Error != "" {
			return nil, fmt.Errorf("state bulk get %s/%s: %s", s.name, it.Key, it.Error)
		}
		if len(it.Value) > 0 {
			out[it.Key] = state.Versioned{Value: it.Value, ETag: it.Etag}
		}
	}
	return out, nil
}

// OutboxSettings make a store's announcing transactions go through the
// app's outbox (internal/platform/outbox): App names the notice topic
// (<app>.outbox), Notices publishes the notices (the notice component).
type OutboxSettings struct {
	App     string
	Notices *Publisher
	Now     func() time.Time
}

// WithOutbox lets s commit transactions that announce an event (state.Op's
// Event): each becomes a notice, published first, and a marker committed
// with the change, which the app's relay publishes (outbox.Mount).
func (s *StateStore) WithOutbox(o OutboxSettings) *StateStore {
	if o.Now == nil {
		o.Now = time.Now
	}
	s.outbox = &o
	return s
}

// Transact implements state.KV: all operations commit or none does. An op
// with an Event commits that event's outbox marker too, after its notice
// went out (a store without WithOutbox refuses it).
func (s *StateStore) Transact(ctx context.Context, ops []state.Op) error {
	c, err := s.sc.Client()
	if err != nil {
		return err
	}
	items := make([]*daprc.StateOperation, 0, len(ops)+1)
	add := func(op state.Op) {
		it := &daprc.SetStateItem{Key: op.Key, Value: op.Value, Metadata: op.Metadata,
			Options: &daprc.StateOptions{Consistency: daprc.StateConsistencyStrong, Concurrency: daprc.StateConcurrencyLastWrite}}
		if op.ETag != "" || op.InsertOnly {
			it.Options.Concurrency = daprc.StateConcurrencyFirstWrite
		}
		if op.ETag != "" {
			it.Etag = &daprc.ETag{Value: op.ETag}
		}
		if op.TTLSeconds > 0 {
			it.Metadata = maps.Clone(it.Metadata)
			if it.Metadata == nil {
				it.Metadata = map[string]string{}
			}
			it.Metadata["ttlInSeconds"] = strconv.Itoa(op.TTLSeconds)
		}
		typ := daprc.StateOperationTypeUpsert
		if op.Delete {
			typ = daprc.StateOperationTypeDelete
		}
		items = append(items, &daprc.StateOperation{Type: typ, Item: it})
	}
	for _, op := range ops {
		if op.Event != nil {
			marker, err := s.notice(ctx, op.Event)
			if err != nil {
				return err
			}
			add(marker)
		}
		add(op)
	}
	err = c.ExecuteStateTransaction(ctx, s.name, s.Metadata, items)
	if err != nil {
		if isETagMismatch(err) {
			return state.ErrConflict
		}
		return fmt.Errorf("state transaction %s: %w", s.name, err)
	}
	return nil
}

// notice publishes e's outbox notice and returns the marker to commit.
// Nothing is written when the notice cannot go out: the change fails as a
// whole, as it would if the store refused it.
func (s *StateStore) notice(ctx context.Context, e *state.Event) (state.Op, error) {
	if err := events.Validate(e.Data); err != nil {
		return state.Op{}, err
	}
	if s.outbox == nil {
		return state.Op{}, fmt.Errorf("state store %s announces %s but has no outbox (WithOutbox)", s.name, e.Topic)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return state.Op{}, err
	}
	now := s.outbox.Now().UTC()
	n := outbox.Notice{EventID: id.String(), Topic: e.Topic, At: now}
	if err := s.outbox.Notices.PublishJSON(ctx, outbox.Topic(s.outbox.App), n); err != nil {
		return state.Op{}, fmt.Errorf("outbox notice for %s: %w", e.Topic, err)
	}
	return outbox.MarkerOp(n.EventID, e.Topic, e.Data, now)
}

// isETagMismatch recognises a lost optimistic-concurrency race: an ETag that
// no longer matches, or an insert-only write that found the key taken (which
// Dapr's SQL stores report as "no item was updated" inside transactions).
func isETagMismatch(err error) bool {
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) && se.GRPCStatus().Code() == codes.Aborted {
		return true
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "etag mismatch") || strings.Contains(msg, "no item was updated")
}
