// Package app holds the playlists service's use cases.
package app

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/harmonia-music/harmonia/apps/playlists/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/audit"
	"github.com/harmonia-music/harmonia/internal/platform/cursor"
	"github.com/harmonia-music/harmonia/internal/platform/fault"
	"github.com/harmonia-music/harmonia/internal/platform/state"
	"github.com/harmonia-music/harmonia/internal/platform/validate"
)

// Tracks checks track ids against the catalogue (the albums service).
type Tracks interface {
	Exists(ctx context.Context, trackID string) (bool, error)
}

// Publisher publishes events.
type Publisher interface {
	Publish(ctx context.Context, e events.Event) error
}

// Service implements playlists.
type Service struct {
	// Audit records user and money actions for the audit log (nil: none).
	Audit     *audit.Recorder
	kv        state.KV
	playlists state.Repo[domain.Playlist]
	owned     state.Repo[domain.Owned]
	shards    state.Repo[domain.Owned] // every playlist id, in Shards lists by id (the export's way through them all)
	tracks    Tracks
	pub       Publisher
	now       func() time.Time
}

// New wires the service.
func New(kv state.KV, tracks Tracks, pub Publisher, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{kv: kv, tracks: tracks, pub: pub, now: now,
		playlists: state.Repo[domain.Playlist]{KV: kv, Prefix: "playlist|", NotFound: domain.ErrNotFound},
		owned:     state.Repo[domain.Owned]{KV: kv, Prefix: "owned|"},
		shards:    state.Repo[domain.Owned]{KV: kv, Prefix: "shard|"}}
}

func (s *Service) changed(ctx context.Context, p *domain.Playlist, change string) {
	s.publish(ctx, events.PlaylistChanged{PlaylistID: p.ID, OwnerID: p.OwnerID, Name: p.Name, Public: p.Public,
		TrackCount: len(p.Entries), Version: p.Version, Change: change, ChangedAt: p.UpdatedAt})
}

func (s *Service) publish(ctx context.Context, e events.Event) {
	if err := s.pub.Publish(ctx, e); err != nil {
		platform.Logger(ctx).Warn("event not published", slog.String("topic", e.Topic()), slog.String("error", err.Error()))
	}
}

// Create makes a playlist for owner.
func (s *Service) Create(ctx context.Context, owner, name, description string, public bool) (*domain.Playlist, error) {
	var v fault.Validation
	domain.ValidateName(&v, name, description)
	if err := v.Err(); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	p := &domain.Playlist{ID: uuid.Must(uuid.NewV7()).String(), OwnerID: owner, Name: name, Description: description,
		Public: public, Entries: []domain.Entry{}, Version: 1, CreatedAt: now, UpdatedAt: now}
	err := state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		o, err := s.owned.ReadOrNew(ctx, tx, owner)
		if err != nil {
			return err
		}
		if len(o.PlaylistIDs) >= domain.MaxPlaylists {
			return domain.ErrTooMany
		}
		o.PlaylistIDs = append([]string{p.ID}, o.PlaylistIDs...)
		if err := s.owned.Write(tx, owner, o); err != nil {
			return err
		}
		if err := s.inShard(ctx, tx, true, p.ID); err != nil {
			return err
		}
		return s.playlists.Insert(tx, p.ID, p)
	})
	if err != nil {
		return nil, err
	}
	s.changed(ctx, p, "created")
	return p, nil
}

// Get returns a playlist the viewer may see.
func (s *Service) Get(ctx context.Context, viewer, id string) (*domain.Playlist, error) {
	if m := validate.ID(id); m != "" {
		return nil, fault.Invalid("id", m)
	}
	p, err := s.playlists.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return p, domain.Access(p, viewer, false)
}

// Mine lists the owner's playlists, newest first.
func (s *Service) Mine(ctx context.Context, owner string, limit int, after string) ([]*domain.Playlist, string, error) {
	if limit == 0 {
		limit = 20
	}
	if limit < 1 || limit > 100 {
		return nil, "", fault.Invalid("limit", "must be between 1 and 100")
	}
	offset, err := cursor.Decode(after, "playlists")
	if err != nil {
		return nil, "", err
	}
	o, err := s.owned.Get(ctx, owner)
	if errors.Is(err, state.ErrNotFound) {
		return []*domain.Playlist{}, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	ids := o.PlaylistIDs
	if offset > len(ids) {
		offset = len(ids)
	}
	end := min(offset+limit, len(ids))
	items, err := s.playlists.GetMany(ctx, ids[offset:end])
	if err != nil {
		return nil, "", err
	}
	next := ""
	if end < len(ids) {
		next = cursor.Encode(end, "playlists")
	}
	if items == nil {
		items = []*domain.Playlist{}
	}
	return items, next, nil
}

// change applies fn to a playlist the viewer owns, at version ifMatch.
func (s *Service) change(ctx context.Context, viewer, id string, ifMatch int, what string, fn func(p *domain.Playlist) error) (*domain.Playlist, error) {
	if m := validate.ID(id); m != "" {
		return nil, fault.Invalid("id", m)
	}
	p, err := s.playlists.Update(ctx, id, func(p *domain.Playlist) error {
		if err := domain.Access(p, viewer, true); err != nil {
			return err
		}
		if err := domain.CheckVersion(p, ifMatch); err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
		p.Version++
		p.UpdatedAt = s.now().UTC()
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.changed(ctx, p, what)
	return p, nil
}

// Patch changes name, description or visibility.
func (s *Service) Patch(ctx context.Context, viewer, id string, ifMatch int, name, description *string, public *bool) (*domain.Playlist, error) {
	if name == nil && description == nil && public == nil {
		return nil, fault.Invalid("body", "name at least one field to change")
	}
	return s.change(ctx, viewer, id, ifMatch, "updated", func(p *domain.Playlist) error {
		if name != nil {
			p.Name = *name
		}
		if description != nil {
			p.Description = *description
		}
		if public != nil {
			p.Public = *public
		}
		var v fault.Validation
		domain.ValidateName(&v, p.Name, p.Description)
		return v.Err()
	})
}

// AddTrack appends (or inserts at position) a published track.
func (s *Service) AddTrack(ctx context.Context, viewer, id string, ifMatch int, trackID string, position *int) (*domain.Playlist, error) {
	if m := validate.ID(trackID); m != "" {
		return nil, fault.Invalid("trackId", m)
	}
	if position != nil && *position < 0 {
		return nil, fault.Invalid("position", "must be 0 or more")
	}
	// check ownership before asking the catalogue, so others learn nothing
	if p, err := s.playlists.Get(ctx, id); err != nil {
		return nil, err
	} else if err := domain.Access(p, viewer, true); err != nil {
		return nil, err
	}
	ok, err := s.tracks.Exists(ctx, trackID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fault.Invalid("trackId", "no such track")
	}
	pos := -1
	if position != nil {
		pos = *position
	}
	return s.change(ctx, viewer, id, ifMatch, "entries", func(p *domain.Playlist) error {
		return p.Insert(domain.Entry{ID: uuid.Must(uuid.NewV7()).String(), TrackID: trackID, AddedAt: s.now().UTC()}, pos)
	})
}

// RemoveEntry removes one entry.
func (s *Service) RemoveEntry(ctx context.Context, viewer, id string, ifMatch int, entryID string) (*domain.Playlist, error) {
	return s.change(ctx, viewer, id, ifMatch, "entries", func(p *domain.Playlist) error { return p.Remove(entryID) })
}

// Reorder sets the order of all entries.
func (s *Service) Reorder(ctx context.Context, viewer, id string, ifMatch int, entryIDs []string) (*domain.Playlist, error) {
	return s.change(ctx, viewer, id, ifMatch, "entries", func(p *domain.Playlist) error { return p.Reorder(entryIDs) })
}

// Delete removes a playlist the viewer owns.
func (s *Service) Delete(ctx context.Context, viewer, id string, ifMatch int) error {
	if m := validate.ID(id); m != "" {
		return fault.Invalid("id", m)
	}
	var owner, name string
	var tracks int
	err := state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		p, err := s.playlists.Read(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := domain.Access(p, viewer, true); err != nil {
			return err
		}
		if err := domain.CheckVersion(p, ifMatch); err != nil {
			return err
		}
		owner, name, tracks = p.OwnerID, p.Name, len(p.Entries)
		o, err := s.owned.ReadOrNew(ctx, tx, owner)
		if err != nil {
			return err
		}
		o.PlaylistIDs = remove(o.PlaylistIDs, id)
		s.playlists.Remove(tx, id)
		if err := s.inShard(ctx, tx, false, id); err != nil {
			return err
		}
		return s.owned.Write(tx, owner, o)
	})
	if err != nil {
		return err
	}
	s.publish(ctx, events.PlaylistDeleted{PlaylistID: id, OwnerID: owner})
	s.Audit.Record(ctx, audit.Record{Actor: viewer, Action: "playlist.deleted", Subject: audit.Subject{Type: "playlist", ID: id},
		Details: map[string]string{"name": name, "tracks": strconv.Itoa(tracks)}})
	return nil
}

func remove(ids []string, id string) []string {
	out := ids[:0]
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

// DeleteAllOf removes every playlist of a deleted user (user.deleted).
func (s *Service) DeleteAllOf(ctx context.Context, userID string) error {
	o, err := s.owned.Get(ctx, userID)
	if errors.Is(err, state.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		s.owned.Remove(tx, userID)
		for _, id := range o.PlaylistIDs {
			s.playlists.Remove(tx, id)
		}
		return s.inShard(ctx, tx, false, o.PlaylistIDs...)
	}); err != nil {
		return err
	}
	for _, id := range o.PlaylistIDs {
		s.publish(ctx, events.PlaylistDeleted{PlaylistID: id, OwnerID: userID})
	}
	return nil
}

// Shards is how many lists hold every playlist id (by a hash of the id), so
// creating playlists at once rarely writes the same list.
const Shards = 16

func shardOf(id string) string { return strconv.Itoa(state.ShardOf(id, Shards)) }

// inShard adds or removes ids in their shard lists, within tx: each shard
// read once (a transaction reads the stored value, not what it staged, so a
// second read of one shard would undo the first change).
func (s *Service) inShard(ctx context.Context, tx *state.Tx, add bool, ids ...string) error {
	byShard := map[string][]string{}
	for _, id := range ids {
		byShard[shardOf(id)] = append(byShard[shardOf(id)], id)
	}
	for sh, ids := range byShard {
		l, err := s.shards.ReadOrNew(ctx, tx, sh)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if add {
				l.PlaylistIDs = append(l.PlaylistIDs, id)
			} else {
				l.PlaylistIDs = remove(l.PlaylistIDs, id)
			}
		}
		if len(l.PlaylistIDs) == 0 {
			s.shards.Remove(tx, sh)
			continue
		}
		if err := s.shards.Write(tx, sh, l); err != nil {
			return err
		}
	}
	return nil
}

// Export pages through every public playlist (search rebuilds its index
// from it): after is the cursor of the page before, limit bounds the
// playlists read (a page may hold fewer public ones, even none, and still
// have a next cursor).
func (s *Service) Export(ctx context.Context, limit int, after string) ([]*domain.Playlist, string, error) {
	if limit < 1 || limit > 500 {
		return nil, "", fault.Invalid("limit", "must be between 1 and 500")
	}
	pos, err := cursor.Decode(after, "playlist-export")
	if err != nil {
		return nil, "", err
	}
	shard, offset := pos/1_000_000, pos%1_000_000
	out := []*domain.Playlist{}
	for ; shard < Shards; shard, offset = shard+1, 0 {
		l, err := s.shards.Get(ctx, strconv.Itoa(shard))
		if errors.Is(err, state.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		if offset >= len(l.PlaylistIDs) {
			continue
		}
		end := min(offset+limit, len(l.PlaylistIDs))
		ps, err := s.playlists.GetMany(ctx, l.PlaylistIDs[offset:end])
		if err != nil {
			return nil, "", err
		}
		for _, p := range ps {
			if p.Public {
				out = append(out, p)
			}
		}
		next := ""
		if end < len(l.PlaylistIDs) {
			next = cursor.Encode(shard*1_000_000+end, "playlist-export")
		} else if shard+1 < Shards {
			next = cursor.Encode((shard+1)*1_000_000, "playlist-export")
		}
		return out, next, nil
	}
	return out, "", nil
}
