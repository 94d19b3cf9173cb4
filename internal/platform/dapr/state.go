package dapr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	daprc "github.com/dapr/go-sdk/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

// StateStore is a state.KV on a Dapr state store component.
type StateStore struct {
	sc   *Sidecar
	name string
	// Metadata is sent with every transaction (e.g. the outbox's settings).
	Metadata map[string]string
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

// Transact implements state.KV: all operations commit or none does.
func (s *StateStore) Transact(ctx context.Context, ops []state.Op) error {
	c, err := s.sc.Client()
	if err != nil {
		return err
	}
	store := s.name
	items := make([]*daprc.StateOperation, 0, len(ops)+1)
	for _, op := range ops {
		if op.Event != nil {
			if err := events.Validate(op.Event.Data); err != nil {
				return err
			}
			// the outbox component for this topic shares this store's table
			store = OutboxComponent(s.name, op.Event.Topic)
			data, err := json.Marshal(op.Event.Data)
			if err != nil {
				return err
			}
			items = append(items, &daprc.StateOperation{Type: daprc.StateOperationTypeUpsert, Item: &daprc.SetStateItem{
				Key: op.Key, Value: data,
				Metadata: map[string]string{"outbox.projection": "true", "datacontenttype": "application/json", "contentType": "application/json"},
			}})
		}
		it := &daprc.SetStateItem{Key: op.Key, Value: op.Value, Metadata: op.Metadata,
			Options: &daprc.StateOptions{Consistency: daprc.StateConsistencyStrong, Concurrency: daprc.StateConcurrencyLastWrite}}
		if op.ETag != "" || op.InsertOnly {
			it.Options.Concurrency = daprc.StateConcurrencyFirstWrite
		}
		if op.ETag != "" {
			it.Etag = &daprc.ETag{Value: op.ETag}
		}
		if op.TTLSeconds > 0 || op.Event != nil {
			if it.Metadata == nil {
				it.Metadata = map[string]string{}
			}
		}
		if op.TTLSeconds > 0 {
			it.Metadata["ttlInSeconds"] = strconv.Itoa(op.TTLSeconds)
		}
		if op.Event != nil { // copied into the outbox's CloudEvent
			it.Metadata["datacontenttype"] = "application/json"
			it.Metadata["type"] = op.Event.Topic
		}
		typ := daprc.StateOperationTypeUpsert
		if op.Delete {
			typ = daprc.StateOperationTypeDelete
		}
		items = append(items, &daprc.StateOperation{Type: typ, Item: it})
	}
	err = c.ExecuteStateTransaction(ctx, store, s.Metadata, items)
	if err != nil {
		if isETagMismatch(err) {
			return state.ErrConflict
		}
		return fmt.Errorf("state transaction %s: %w", store, err)
	}
	return nil
}

// OutboxComponent names the state store component that publishes topic
// through Dapr's transactional outbox for store: "<store>-outbox-<topic>"
// with dots and underscores as dashes (payments-store-outbox-payment-succeeded). It must
// point at the same data as store.
func OutboxComponent(store, topic string) string {
	return store + "-outbox-" + strings.NewReplacer(".", "-", "_", "-").Replace(topic)
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
