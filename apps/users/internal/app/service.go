// Package app holds users' use cases.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/harmonia-music/harmonia/apps/users/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/exports"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/audit"
	"github.com/harmonia-music/harmonia/internal/platform/fault"
	"github.com/harmonia-music/harmonia/internal/platform/state"
	"github.com/harmonia-music/harmonia/internal/platform/validate"
)

// Accounts is the auth service, as users needs it.
type Accounts interface {
	// ChangeEmail moves the sign-in address; version orders the changes, so
	// a late, older one never overwrites a newer one.
	ChangeEmail(ctx context.Context, userID, email string, version int) error
	Delete(ctx context.Context, userID string) error
}

// Publisher publishes events.
type Publisher interface {
	Publish(ctx context.Context, e events.Event) error
}

// Service implements users' use cases.
type Service struct {
	// Audit records user and money actions for the audit log (nil: none).
	Audit     *audit.Recorder
	kv        state.KV
	profiles  state.Repo[domain.Profile]
	prefs     state.Repo[domain.Preferences]
	player    state.Repo[domain.Player]
	following state.Repo[domain.Following]
	deleted   state.Repo[domain.Tombstone]
	deletions state.Repo[domain.Deletions]
	accounts  Accounts
	pub       Publisher
	now       func() time.Time
	// afterAccountDelete, in tests, runs between the credentials' deletion
	// and users' own when a request deletes an account (to stop there, as a
	// crash would); a later FinishDeletions runs without it.
	afterAccountDelete func(ctx context.Context, userID string) error
}

// New wires the service.
func New(kv state.KV, accounts Accounts, pub Publisher, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{
		kv:        kv,
		profiles:  state.Repo[domain.Profile]{KV: kv, Prefix: "profile|", NotFound: domain.ErrProfileNotFound},
		prefs:     state.Repo[domain.Preferences]{KV: kv, Prefix: "prefs|"},
		player:    state.Repo[domain.Player]{KV: kv, Prefix: "player|"},
		following: state.Repo[domain.Following]{KV: kv, Prefix: "following|"},
		deleted:   state.Repo[domain.Tombstone]{KV: kv, Prefix: "deleted|", TTL: TombstoneTTL},
		deletions: state.Repo[domain.Deletions]{KV: kv, Prefix: "deletions|"},
		accounts:  accounts,
		pub:       pub,
		now:       now,
	}
}

func (s *Service) publish(ctx context.Context, e events.Event) {
	if err := s.pub.Publish(ctx, e); err != nil {
		platform.Logger(ctx).Warn("event not published", slog.String("topic", e.Topic()), slog.String("error", err.Error()))
	}
}

// Create stores a new profile with default preferences (called by auth at sign-up).
func (s *Service) Create(ctx context.Context, p domain.Profile) (*domain.Profile, error) {
	now := s.now().UTC()
	if m := validate.ID(p.ID); m != "" {
		return nil, fault.Invalid("id", m)
	}
	p.Email = validate.NormalizeEmail(p.Email)
	if err := p.Validate(now); err != nil {
		return nil, err
	}
	p.CreatedAt, p.UpdatedAt = now, now
	prefs := domain.DefaultPreferences()
	prefs.UpdatedAt = now
	out := &p
	err := state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		existing, err := s.profiles.Read(ctx, tx, p.ID)
		switch {
		case err == nil:
			// Ids are minted by auth, so an existing profile under this id is
			// this same sign-up retried: answer with it (idempotent create).
			if existing.Email != p.Email {
				return domain.ErrProfileExists
			}
			out = existing
			return nil
		case !errors.Is(err, domain.ErrProfileNotFound):
			return err
		}
		out = &p
		if err := s.profiles.Write(tx, p.ID, &p); err != nil {
			return err
		}
		return s.prefs.Write(tx, p.ID, &prefs)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Get returns the caller's profile; an account being deleted has none.
func (s *Service) Get(ctx context.Context, userID string) (*domain.Profile, error) {
	p, err := s.profiles.Get(ctx, userID)
	if err == nil && p.Deleting != nil {
		return nil, domain.ErrProfileNotFound
	}
	return p, err
}

// Patch applies a JSON merge patch to the profile: absent fields stay, null
// clears an optional field. The patch is applied to the stored profile
// inside the repository's update, so two patches at once both survive. A new
// email then moves in auth (which keeps addresses unique) with the
// profile's email version, so auth ends with the newest address whatever
// order concurrent changes reach it in; if auth refuses, the patch is undone
// field by field (a field someone changed since is left alone).
func (s *Service) Patch(ctx context.Context, userID string, patch map[string]json.RawMessage) (*domain.Profile, error) {
	now := s.now().UTC()
	var before domain.Profile
	updated, err := s.profiles.Update(ctx, userID, func(p *domain.Profile) error {
		if p.Deleting != nil {
			return domain.ErrProfileNotFound
		}
		before = *p
		next := *p
		if err := applyPatch(&next, patch); err != nil {
			return err
		}
		next.Email = validate.NormalizeEmail(next.Email)
		if err := next.Validate(now); err != nil {
			return err
		}
		if next.Email != p.Email {
			next.EmailVersion = p.EmailVersion + 1
		}
		next.UpdatedAt = now
		*p = next
		return nil
	})
	if err != nil {
		return nil, err
	}
	if updated.Email != before.Email {
		if err := s.accounts.ChangeEmail(ctx, userID, updated.Email, updated.EmailVersion); err != nil {
			s.undoPatch(context.WithoutCancel(ctx), userID, &before, updated, now)
			return nil, err
		}
	}
	s.publish(ctx, events.UserUpdated{UserID: userID, Country: updated.Country, BirthYear: updated.BirthYear,
		UpdatedAt: now, Fields: patchedFields(patch)})
	s.Audit.Record(ctx, audit.Record{Actor: userID, Action: "user.updated", Subject: audit.Subject{Type: "user", ID: userID},
		Details: map[string]string{"fields": strings.Join(patchedFields(patch), ",")}})
	return updated, nil
}

// undoPatch puts back the fields a patch changed, unless changed again
// since; an email put back moves in auth too, under a newer version.
func (s *Service) undoPatch(ctx context.Context, userID string, before, applied *domain.Profile, now time.Time) {
	log := platform.Logger(ctx).With(slog.String("user_id", userID))
	restored, err := s.profiles.Update(ctx, userID, func(p *domain.Profile) error {
		changed := false
		for _, f := range profileFields {
			if f.get(p) == f.get(applied) && f.get(applied) != f.get(before) {
				f.set(p, f.get(before))
				changed = true
			}
		}
		if !changed {
			return state.Unchanged
		}
		if p.Email == before.Email && p.EmailVersion == applied.EmailVersion {
			p.EmailVersion++
		}
		p.UpdatedAt = now
		return nil
	})
	if err != nil {
		log.Error("could not undo a refused profile change", slog.String("error", err.Error()))
		return
	}
	if restored.Email == before.Email && restored.EmailVersion > applied.EmailVersion {
		// auth may have applied the refused change after all (a timeout): make sure it ends on this one
		if err := s.accounts.ChangeEmail(ctx, userID, restored.Email, restored.EmailVersion); err != nil {
			log.Error("could not confirm the sign-in address after undoing a change", slog.String("error", err.Error()))
		}
	}
}

// profileFields are the patchable fields, for undoing a patch.
var profileFields = []struct {
	get func(*domain.Profile) any
	set func(*domain.Profile, any)
}{
	{func(p *domain.Profile) any { return p.DisplayName }, func(p *domain.Profile, v any) { p.DisplayName = v.(string) }},
	{func(p *domain.Profile) any { return p.Email }, func(p *domain.Profile, v any) { p.Email = v.(string) }},
	{func(p *domain.Profile) any { return p.Country }, func(p *domain.Profile, v any) { p.Country = v.(string) }},
	{func(p *domain.Profile) any { return p.Phone }, func(p *domain.Profile, v any) { p.Phone = v.(string) }},
	{func(p *domain.Profile) any { return p.BirthYear }, func(p *domain.Profile, v any) { p.BirthYear = v.(int) }},
}

func patchedFields(p map[string]json.RawMessage) []string {
	out := make([]string, 0, len(p))
	for k := range p {
		out = append(out, k)
	}
	return out
}

func applyPatch(p *domain.Profile, patch map[string]json.RawMessage) error {
	var v fault.Validation
	if len(patch) == 0 {
		return fault.Invalid("body", "name at least one field to change")
	}
	isNull := func(raw json.RawMessage) bool { return string(raw) == "null" }
	for k, raw := range patch {
		var err error
		switch k {
		case "displayName":
			err = json.Unmarshal(raw, &p.DisplayName)
			if isNull(raw) {
				v.Add(k, "cannot be removed")
			}
		case "email":
			err = json.Unmarshal(raw, &p.Email)
			if isNull(raw) {
				v.Add(k, "cannot be removed")
			}
		case "country":
			p.Country = ""
			if !isNull(raw) {
				err = json.Unmarshal(raw, &p.Country)
				if err == nil && p.Country == "" {
					v.Add(k, "must be a country code, or null to remove it")
				}
			}
		case "phone":
			p.Phone = ""
			if !isNull(raw) {
				err = json.Unmarshal(raw, &p.Phone)
				if err == nil && p.Phone == "" {
					v.Add(k, "must be a phone number, or null to remove it")
				}
			}
		case "birthYear":
			p.BirthYear = 0
			if !isNull(raw) {
				err = json.Unmarshal(raw, &p.BirthYear)
				if err == nil && p.BirthYear == 0 {
					v.Add(k, "must be a year, or null to remove it")
				}
			}
		default:
			v.Add(k, "is not a field you can change")
			continue
		}
		if err != nil {
			v.Add(k, "has the wrong type")
		}
	}
	return v.Err()
}

// Preferences returns the caller's preferences (defaults when never set).
func (s *Service) Preferences(ctx context.Context, userID string) (*domain.Preferences, error) {
	if _, err := s.Get(ctx, userID); err != nil {
		return nil, err
	}
	p, err := s.prefs.Get(ctx, userID)
	if errors.Is(err, state.ErrNotFound) {
		d := domain.DefaultPreferences()
		return &d, nil
	}
	return p, err
}

// SetPreferences replaces the caller's preferences.
func (s *Service) SetPreferences(ctx context.Context, userID string, p domain.Preferences) (*domain.Preferences, error) {
	genres, err := domain.NormalizeGenres(p.FavouriteGenres)
	if err != nil {
		return nil, err
	}
	if _, err := s.Get(ctx, userID); err != nil {
		return nil, err
	}
	p.FavouriteGenres = genres
	p.UpdatedAt = s.now().UTC()
	if err := s.prefs.Put(ctx, userID, &p); err != nil {
		return nil, err
	}
	s.publish(ctx, events.UserUpdated{UserID: userID, UpdatedAt: p.UpdatedAt, Fields: []string{"preferences"},
		Notifications:  &events.ChannelChoices{Email: p.Notifications.Email, SMS: p.Notifications.SMS, InApp: p.Notifications.InApp},
		MarketingOptIn: &p.MarketingOptIn})
	return &p, nil
}

// Player is where the caller's player stands (an empty queue at first).
func (s *Service) Player(ctx context.Context, userID string) (*domain.Player, error) {
	if _, err := s.Get(ctx, userID); err != nil {
		return nil, err
	}
	p, err := s.player.Get(ctx, userID)
	if errors.Is(err, state.ErrNotFound) {
		return &domain.Player{TrackIDs: []string{}, Volume: 1}, nil
	}
	return p, err
}

// SetPlayer saves where the caller's player stands (the ports checked its
// shape: ids, bounds).
func (s *Service) SetPlayer(ctx context.Context, userID string, p domain.Player) (*domain.Player, error) {
	if _, err := s.Get(ctx, userID); err != nil {
		return nil, err
	}
	p.UpdatedAt = s.now().UTC()
	if err := s.player.Put(ctx, userID, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Following lists the artists the caller follows.
func (s *Service) Following(ctx context.Context, userID string) ([]string, error) {
	f, err := s.following.Get(ctx, userID)
	if errors.Is(err, state.ErrNotFound) {
		return []string{}, nil
	}
	if err != nil {
		return nil, err
	}
	return f.ArtistIDs, nil
}

// Follow adds an artist; following twice is not an error.
func (s *Service) Follow(ctx context.Context, userID, artistID string) error {
	if m := validate.ID(artistID); m != "" {
		return fault.Invalid("artistId", m)
	}
	if _, err := s.Get(ctx, userID); err != nil {
		return err
	}
	changed := false
	_, err := s.following.Update(ctx, userID, func(f *domain.Following) (err error) {
		changed, err = f.Follow(artistID)
		return err
	})
	if errors.Is(err, state.ErrNotFound) {
		err = s.following.Create(ctx, userID, &domain.Following{ArtistIDs: []string{artistID}})
		changed = err == nil
		if errors.Is(err, state.ErrConflict) {
			return s.Follow(ctx, userID, artistID)
		}
	}
	if err != nil {
		return err
	}
	if changed {
		s.publish(ctx, events.ArtistFollowed{UserID: userID, ArtistID: artistID, FollowedAt: s.now().UTC()})
	}
	return nil
}

// Unfollow removes an artist; unfollowing one not followed is not an error.
func (s *Service) Unfollow(ctx context.Context, userID, artistID string) error {
	if m := validate.ID(artistID); m != "" {
		return fault.Invalid("artistId", m)
	}
	changed := false
	_, err := s.following.Update(ctx, userID, func(f *domain.Following) error {
		changed = f.Unfollow(artistID)
		return nil
	})
	if errors.Is(err, state.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if changed {
		s.publish(ctx, events.ArtistUnfollowed{UserID: userID, ArtistID: artistID, UnfollowedAt: s.now().UTC()})
	}
	return nil
}

// Contacts returns how to reach each listener named (notifications asks):
// address, name, phone and channel choices. Unknown and deleted listeners
// are left out.
func (s *Service) Contacts(ctx context.Context, userIDs []string) ([]exports.Contact, error) {
	if len(userIDs) > exports.MaxContacts {
		return nil, fault.Invalid("userIds", fmt.Sprintf("must list at most %d ids", exports.MaxContacts))
	}
	for i, id := range userIDs {
		if m := validate.ID(id); m != "" {
			return nil, fault.Invalid(fmt.Sprintf("userIds[%d]", i), m)
		}
	}
	// profiles and preferences in one round trip
	keys := make([]string, 0, 2*len(userIDs))
	for _, id := range userIDs {
		keys = append(keys, s.profiles.Prefix+id, s.prefs.Prefix+id)
	}
	raw, err := s.kv.GetMany(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make([]exports.Contact, 0, len(userIDs))
	for _, id := range userIDs {
		b, ok := raw[s.profiles.Prefix+id]
		if !ok {
			continue
		}
		var p domain.Profile
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("decode profile of %s: %w", id, err)
		}
		if p.Deleting != nil {
			continue
		}
		pr := domain.DefaultPreferences()
		if b, ok := raw[s.prefs.Prefix+id]; ok {
			if err := json.Unmarshal(b, &pr); err != nil {
				return nil, fmt.Errorf("decode preferences of %s: %w", id, err)
			}
		}
		out = append(out, exports.Contact{UserID: p.ID, Email: p.Email, DisplayName: p.DisplayName, Phone: p.Phone,
			MarketingOptIn: pr.MarketingOptIn,
			Channels:       events.ChannelChoices{Email: pr.Notifications.Email, SMS: pr.Notifications.SMS, InApp: pr.Notifications.InApp}})
	}
	return out, nil
}

// OptOutOfMarketing turns marketing messages off for a listener (the
// unsubscribe link in an offer's email, checked by notifications). Doing it
// twice changes nothing the second time.
func (s *Service) OptOutOfMarketing(ctx context.Context, userID string) error {
	if _, err := s.Get(ctx, userID); err != nil {
		return err
	}
	changed := false
	var out domain.Preferences
	_, err := s.prefs.Upsert(ctx, userID, func(p *domain.Preferences, exists bool) error {
		if !exists {
			*p = domain.DefaultPreferences()
		}
		changed = p.MarketingOptIn
		if changed {
			p.MarketingOptIn = false
			p.UpdatedAt = s.now().UTC()
		}
		out = *p
		return nil
	})
	if err != nil || !changed {
		return err
	}
	s.publish(ctx, events.UserUpdated{UserID: userID, UpdatedAt: out.UpdatedAt, Fields: []string{"preferences"},
		Notifications:  &events.ChannelChoices{Email: out.Notifications.Email, SMS: out.Notifications.SMS, InApp: out.Notifications.InApp},
		MarketingOptIn: &out.MarketingOptIn})
	return nil
}

// TombstoneTTL is how long users remembers a deleted account's id (so a
// retried deletion finds its work done).
const TombstoneTTL = 30 * 24 * time.Hour

// pendingKey is the one record listing deletions under way.
const pendingKey = "pending"

// Delete removes the account. It is recorded first (the profile is marked
// and the id listed as pending, in one transaction), so whatever fails
// afterwards — auth unreachable, users stopped between two steps — the
// deletion is finished later by FinishDeletions, and neither credentials
// without a profile nor a profile without credentials is left behind.
//
// done is false when the deletion was recorded but a later step failed: it
// will finish without the caller (the HTTP answer is 202, not 204).
func (s *Service) Delete(ctx context.Context, userID string) (done bool, err error) {
	now := s.now().UTC()
	began := false // this call began the deletion (a retried one finds it begun)
	err = state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		p, err := s.profiles.Read(ctx, tx, userID)
		if err != nil {
			return err
		}
		began = p.Deleting == nil
		if p.Deleting == nil {
			p.Deleting = &now
			if err := s.profiles.Write(tx, userID, p); err != nil {
				return err
			}
		}
		l, err := s.deletions.ReadOrNew(ctx, tx, pendingKey)
		if err != nil {
			return err
		}
		if slices.Contains(l.UserIDs, userID) {
			return nil
		}
		l.UserIDs = append(l.UserIDs, userID)
		return s.deletions.Write(tx, pendingKey, l)
	})
	if err != nil {
		return false, err
	}
	var hook func(context.Context, string) error
	if began {
		hook = s.afterAccountDelete
		s.Audit.Record(ctx, audit.Record{Actor: userID, Action: "user.deleted", Subject: audit.Subject{Type: "user", ID: userID}})
	}
	if err := s.finishDeletion(ctx, userID, hook); err != nil {
		platform.Logger(ctx).Warn("account deletion recorded, to be finished later", slog.String("user_id", userID), slog.String("error", err.Error()))
		return false, nil
	}
	return true, nil
}

// finishDeletion takes a recorded deletion to its end; every step may run
// again. Credentials go first (sign-in stops), then, in one transaction,
// users' records of the account and its tombstone, which commits
// user.deleted through the outbox, and last the pending entry.
//
// hook, when set (tests), runs between auth's delete and users' own.
func (s *Service) finishDeletion(ctx context.Context, userID string, hook func(ctx context.Context, userID string) error) error {
	if err := s.accounts.Delete(ctx, userID); err != nil {
		return err
	}
	if hook != nil {
		if err := hook(ctx, userID); err != nil {
			return err
		}
	}
	err := state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		if _, err := s.deleted.Read(ctx, tx, userID); err == nil {
			return nil // done already: nothing to write, nothing to announce again
		} else if !errors.Is(err, state.ErrNotFound) {
			return err
		}
		s.profiles.Remove(tx, userID)
		s.prefs.Remove(tx, userID)
		s.player.Remove(tx, userID)
		s.following.Remove(tx, userID)
		if err := s.deleted.Insert(tx, userID, &domain.Tombstone{DeletedAt: s.now().UTC()}); err != nil {
			return err
		}
		tx.Announce(state.Announce(events.UserDeleted{UserID: userID, DeletedAt: s.now().UTC()}))
		return nil
	})
	if err != nil {
		return err
	}
	_, err = s.deletions.Update(ctx, pendingKey, func(l *domain.Deletions) error {
		if !slices.Contains(l.UserIDs, userID) {
			return state.Unchanged
		}
		l.UserIDs = slices.DeleteFunc(l.UserIDs, func(id string) bool { return id == userID })
		return nil
	})
	if errors.Is(err, state.ErrNotFound) {
		return nil
	}
	return err
}

// FinishDeletions finishes every deletion that began and did not end (users
// stopped, or auth failed, in the middle). users runs it at start and then
// periodically; it returns how many it finished and the first error.
func (s *Service) FinishDeletions(ctx context.Context) (int, error) {
	l, err := s.deletions.Get(ctx, pendingKey)
	if errors.Is(err, state.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	done := 0
	var first error
	for _, id := range l.UserIDs {
		if err := s.finishDeletion(ctx, id, nil); err != nil {
			platform.Logger(ctx).Warn("account deletion still unfinished", slog.String("user_id", id), slog.String("error", err.Error()))
			if first == nil {
				first = err
			}
			continue
		}
		done++
	}
	return done, first
}

// CrashName is the display name that, with test hooks on, stops users (exit
// status 3) right after auth deleted the account's credentials and before
// users' own transaction: the end-to-end suite's way to stop the process
// between the two deletes.
const CrashName = "crash-after-account-delete"

// EnableTestHooks arms CrashName (USERS_TEST_HOOKS; never in production).
func (s *Service) EnableTestHooks(exit func(code int)) {
	s.afterAccountDelete = func(ctx context.Context, userID string) error {
		if p, err := s.profiles.Get(ctx, userID); err == nil && p.DisplayName == CrashName {
			platform.Logger(ctx).Warn("test hook: stopping between the two deletes", slog.String("user_id", userID))
			exit(3)
		}
		return nil
	}
}
