// Package app holds analytics' use cases: exact daily rollups flushed in
// batches, the raw export, and the reports.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/harmonia-music/harmonia/apps/analytics/internal/domain"
	"github.com/harmonia-music/harmonia/internal/platform/batch"
	"github.com/harmonia-music/harmonia/internal/platform/fault"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

const (
	seenTTL   = 7 * 24 * 3600 // redeliveries come within days
	markerTTL = 3 * 24 * 3600 // a listener's first play of a day matters for that day only
)

// Exporter writes a batch of raw events for a warehouse (an output binding).
type Exporter interface {
	Export(ctx context.Context, name string, ndjson []byte) error
}

// Incoming is one consumed event.
type Incoming struct {
	ID     string          // the CloudEvent id (or the event's own id)
	Topic  string          //
	Time   time.Time       // when it was published
	Data   json.RawMessage // the event as it came
	Effect domain.Effect
}

// Config tunes the rollups.
type Config struct {
	MaxBatch int
	Now      func() time.Time
	// Flushed is told each committed batch's size (metrics).
	Flushed func(events int)
}

// Service keeps the rollups and answers reports.
type Service struct {
	kv     state.KV
	vr     state.VersionedReader
	export Exporter
	cfg    Config
	batch  *batch.Batcher[*Incoming]
}

// New makes the service; call Run.
func New(kv state.KV, export Exporter, cfg Config) (*Service, error) {
	vr, ok := kv.(state.VersionedReader)
	if !ok {
		return nil, errors.New("analytics needs a store that reads with ETags in bulk")
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 500
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{kv: kv, vr: vr, export: export, cfg: cfg, batch: batch.New[*Incoming](cfg.MaxBatch, nil)}, nil
}

// Consume counts one event and returns once the batch holding it is
// committed: the handler answers the broker only then, so an event is
// acknowledged after its counts are stored (a crash before means
// redelivery; the event id makes a redelivery count nothing twice).
func (s *Service) Consume(ctx context.Context, in Incoming) error { return s.batch.Submit(ctx, &in) }

// Run flushes batches until ctx ends: it waits for one event, takes what
// else is waiting (up to MaxBatch), and commits them together.
func (s *Service) Run(ctx context.Context) { s.batch.Run(ctx, s.Flush) }

// Flush commits a batch: events already counted are skipped, listener
// markers decide which distinct-listener counts move, the raw events go to
// the export, and the counters, the markers and the events' ids commit in
// one transaction, each record under its ETag. A conflict (another replica
// flushed the same record) runs the whole batch again.
func (s *Service) Flush(ctx context.Context, ins []*Incoming) error {
	var err error
	for attempt := 0; attempt < state.MaxConflictRetries+3; attempt++ {
		if err = s.flush(ctx, ins); !errors.Is(err, state.ErrConflict) {
			return err
		}
		if perr := state.ConflictPause(ctx, attempt+2); perr != nil {
			return perr
		}
	}
	return err
}

func (s *Service) flush(ctx context.Context, ins []*Incoming) error {
	// 1. drop what was counted before, and repeats inside the batch
	keys := make([]string, 0, len(ins))
	for _, in := range ins {
		keys = append(keys, "seen|"+in.ID)
	}
	seen, err := s.kv.GetMany(ctx, keys)
	if err != nil {
		return err
	}
	var todo []*Incoming
	dup := map[string]bool{}
	for _, in := range ins {
		if _, ok := seen["seen|"+in.ID]; ok || dup[in.ID] {
			continue
		}
		dup[in.ID] = true
		todo = append(todo, in)
	}
	if len(todo) == 0 {
		return nil
	}
	// 2. which listener markers are new
	var markerKeys []string
	for _, in := range todo {
		for _, m := range in.Effect.Markers {
			markerKeys = append(markerKeys, m.Key)
		}
	}
	have, err := s.kv.GetMany(ctx, markerKeys)
	if err != nil {
		return err
	}
	var ops []state.Op
	deltas := map[string]map[string]int64{}
	add := func(d domain.Delta) {
		if deltas[d.Record] == nil {
			deltas[d.Record] = map[string]int64{}
		}
		deltas[d.Record][d.Key] += d.N
	}
	newMarker := map[string]bool{}
	for _, in := range todo {
		for _, d := range in.Effect.Deltas {
			add(d)
		}
		for _, m := range in.Effect.Markers {
			if _, ok := have[m.Key]; ok || newMarker[m.Key] {
				continue
			}
			newMarker[m.Key] = true
			add(m.Delta)
			ops = append(ops, state.Op{Key: m.Key, Value: []byte(`1`), InsertOnly: true, TTLSeconds: markerTTL})
		}
		// insert-only: a replica that counted it meanwhile makes this
		// transaction fail, and the batch runs again without it
		ops = append(ops, state.Op{Key: "seen|" + in.ID, Value: []byte(`1`), InsertOnly: true, TTLSeconds: seenTTL})
	}
	// 3. the counters, read with their ETags and written under them
	records := make([]string, 0, len(deltas))
	for k := range deltas {
		records = append(records, k)
	}
	cur, err := s.vr.GetManyVersioned(ctx, records)
	if err != nil {
		return err
	}
	for _, k := range records {
		counts := map[string]int64{}
		op := state.Op{Key: k, InsertOnly: true}
		if v, ok := cur[k]; ok {
			if err := json.Unmarshal(v.Value, &counts); err != nil {
				return fmt.Errorf("record %s: %w", k, err)
			}
			op = state.Op{Key: k, ETag: v.ETag}
		}
		for key, n := range deltas[k] {
			counts[key] += n
		}
		op.Value, _ = json.Marshal(counts)
		ops = append(ops, op)
	}
	// 4. the raw events, then the commit (an export written twice, after a
	// failed commit, carries the same event ids: a warehouse keeps one)
	if s.export != nil {
		if err := s.exportBatch(ctx, todo); err != nil {
			return fault.Wrap(fault.KindUnavailable, "export-unavailable", "the raw export did not take the batch", err)
		}
	}
	if err := s.kv.Transact(ctx, ops); err != nil {
		return err
	}
	if s.cfg.Flushed != nil {
		s.cfg.Flushed(len(todo))
	}
	return nil
}

// ExportLine is one line of the raw export (NDJSON): the event as it came,
// with its id, topic and times.
type ExportLine struct {
	ID         string          `json:"id"`
	Topic      string          `json:"topic"`
	Time       time.Time       `json:"time"`
	ReceivedAt time.Time       `json:"receivedAt"`
	Data       json.RawMessage `json:"data"`
}

func (s *Service) exportBatch(ctx context.Context, ins []*Incoming) error {
	var buf []byte
	now := s.cfg.Now().UTC()
	for _, in := range ins {
		line, err := json.Marshal(ExportLine{ID: in.ID, Topic: in.Topic, Time: in.Time.UTC(), ReceivedAt: now, Data: in.Data})
		if err != nil {
			return err
		}
		buf = append(append(buf, line...), '\n')
	}
	name := fmt.Sprintf("%s-%s.ndjson", now.Format("20060102T150405.000Z"), uuid.NewString()[:8])
	return s.export.Export(ctx, name, buf)
}

// ReportQuery asks for one report.
type ReportQuery struct {
	Report, GroupBy, Metric string
	From, To                time.Time
	Top                     int
}

// Report reads the days' records (one bulk read) and builds the series.
func (s *Service) Report(ctx context.Context, q ReportQuery) (domain.Report, error) {
	days := domain.Days(q.From, q.To)
	name := q.Report
	if q.Report == "subscriptions" {
		name = "subscriptions-" + q.Metric
	}
	keys := make([]string, len(days))
	for i, d := range days {
		keys[i] = domain.RecordKey(name, q.GroupBy, d)
	}
	got, err := s.kv.GetMany(ctx, keys)
	if err != nil {
		return domain.Report{}, err
	}
	records := make([]map[string]int64, len(days))
	for i, k := range keys {
		if b, ok := got[k]; ok {
			if err := json.Unmarshal(b, &records[i]); err != nil {
				return domain.Report{}, fmt.Errorf("record %s: %w", k, err)
			}
		}
	}
	return domain.Report{Report: q.Report, GroupBy: q.GroupBy, Metric: q.Metric, From: days[0], To: days[len(days)-1],
		Unit: domain.Unit(q.Report), Series: domain.Build(days, records, q.Top)}, nil
}
