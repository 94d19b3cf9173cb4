// Package app holds the catalogue's use cases, split by job: catalogue writes
// (catalogue.go), reads and their caches (reads.go), streaming and
// entitlements (stream.go), and trending (trending.go). Each keeps its own
// in-memory state behind its own lock.
package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/harmonia-music/harmonia/apps/albums/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/audit"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

// Media stores audio files (the Dapr binding "media").
type Media interface {
	Put(ctx context.Context, key string, data []byte) error
	Get(ctx context.Context, key string) ([]byte, error)
}

// Entitlements says whether a user may hear whole tracks (the subscriptions service).
type Entitlements interface {
	FullAccess(ctx context.Context, userID string) (bool, error)
}

// Profiles gives what analytics needs of a listener (the users service).
type Profiles interface {
	Listener(ctx context.Context, userID string) (Listener, error)
}

// Listener is a listener's country and birth year.
type Listener struct {
	Country   string `json:"country"`
	BirthYear int    `json:"birthYear"`
}

// Publisher publishes events.
type Publisher interface {
	Publish(ctx context.Context, e events.Event) error
}

// Config tunes the service.
type Config struct {
	PreviewLength    time.Duration // 30 s
	MaxAudioBytes    int
	EntitlementWait  time.Duration // how long a stream waits for subscriptions
	IndexStaleness   time.Duration // how old the cached index may be for reads
	EntitlementCache time.Duration
}

// Service implements the catalogue.
type Service struct {
	// Audit records user and money actions for the audit log (nil: none).
	Audit     *audit.Recorder
	cfg       Config
	kv        state.KV
	artists   state.Repo[domain.Artist]
	catalogue state.Repo[domain.Index] // the index shards
	albums    state.Repo[domain.Album]
	tracks    state.Repo[domain.Track]
	windowDB  state.Repo[domain.PlayWindow]
	media     Media
	ents      Entitlements
	profiles  Profiles
	pub       Publisher
	now       func() time.Time

	reads  readState   // reads.go: the index and album views in memory
	listen listenState // stream.go: entitlements and countries in memory
	trend  trendState  // trending.go: play counts not yet stored
}

// legacyIndexID is the catalogue index of before sharding, one document
// (key "index|catalogue"), folded into the shards by the first write.
const legacyIndexID = "catalogue"

// shardID is the key of index shard n under "index|" ("shard-07").
func shardID(n int) string { return fmt.Sprintf("shard-%02d", n) }

// New wires the service.
func New(cfg Config, kv state.KV, media Media, ents Entitlements, profiles Profiles, pub Publisher, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{cfg: cfg, kv: kv, media: media, ents: ents, profiles: profiles, pub: pub, now: now,
		artists:   state.Repo[domain.Artist]{KV: kv, Prefix: "artist|", NotFound: domain.ErrArtistNotFound},
		catalogue: state.Repo[domain.Index]{KV: kv, Prefix: "index|"},
		albums:    state.Repo[domain.Album]{KV: kv, Prefix: "album|", NotFound: domain.ErrAlbumNotFound},
		tracks:    state.Repo[domain.Track]{KV: kv, Prefix: "track|", NotFound: domain.ErrTrackNotFound},
		windowDB:  state.Repo[domain.PlayWindow]{KV: kv, Prefix: "plays|"},
		reads:     newReadState(cfg, now),
		listen:    newListenState(cfg, now),
		trend:     trendState{pending: map[string]int{}, totals: map[string]int{}}}
}

func (s *Service) publish(ctx context.Context, e events.Event) {
	if err := s.pub.Publish(ctx, e); err != nil {
		platform.Logger(ctx).Warn("event not published", slog.String("topic", e.Topic()), slog.String("error", err.Error()))
	}
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
