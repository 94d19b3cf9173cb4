// Package app holds users' use cases.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/harmonia-music/harmonia/apps/users/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/fault"
	"github.com/harmonia-music/harmonia/internal/platform/state"
	"github.com/harmonia-music/harmonia/internal/platform/validate"
)

// Accounts is the auth service, as users needs it.
type Accounts interface {
	ChangeEmail(ctx context.Context, userID, email string) error
	Delete(ctx context.Context, userID string) error
}

// Publisher publishes events.
type Publisher interface {
	Publish(ctx context.Context, e events.Event) error
}

// Service implements users' use cases.
type Service struct {
	kv        state.KV
	profiles  state.Repo[domain.Profile]
	prefs     state.Repo[domain.Preferences]
	following state.Repo[domain.Following]
	accounts  Accounts
	pub       Publisher
	now       func() time.Time
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
		following: state.Repo[domain.Following]{KV: kv, Prefix: "following|"},
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

// Get returns the caller's profile.
func (s *Service) Get(ctx context.Context, userID string) (*domain.Profile, error) {
	return s.profiles.Get(ctx, userID)
}

// Patch applies a JSON merge patch to the profile: absent fields stay, null
// clears an optional field. A new email is moved in auth first (which keeps
// it unique), so sign-in and profile never disagree for long.
func (s *Service) Patch(ctx context.Context, userID string, patch map[string]json.RawMessage) (*domain.Profile, error) {
	cur, err := s.profiles.Get(ctx, userID)
	if err != nil {
		return nil, err
	}
	next := *cur
	if err := applyPatch(&next, patch); err != nil {
		return nil, err
	}
	next.Email = validate.NormalizeEmail(next.Email)
	now := s.now().UTC()
	if err := next.Validate(now); err != nil {
		return nil, err
	}
	if next.Email != cur.Email {
		if err := s.accounts.ChangeEmail(ctx, userID, next.Email); err != nil {
			return nil, err
		}
	}
	updated, err := s.profiles.Update(ctx, userID, func(p *domain.Profile) error {
		created := p.CreatedAt
		*p = next
		p.CreatedAt, p.UpdatedAt = created, now
		return nil
	})
	if err != nil {
		if next.Email != cur.Email { // compensate: put the sign-in address back
			if cerr := s.accounts.ChangeEmail(context.WithoutCancel(ctx), userID, cur.Email); cerr != nil {
				platform.Logger(ctx).Error("email compensation failed", slog.String("user_id", userID), slog.String("error", cerr.Error()))
			}
		}
		return nil, err
	}
	s.publish(ctx, events.UserUpdated{UserID: userID, Country: updated.Country, BirthYear: updated.BirthYear,
		UpdatedAt: now, Fields: patchedFields(patch)})
	return updated, nil
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
	if _, err := s.profiles.Get(ctx, userID); err != nil {
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
	if _, err := s.profiles.Get(ctx, userID); err != nil {
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
	if _, err := s.profiles.Get(ctx, userID); err != nil {
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
	_, err := s.following.Update(ctx, userID, func(f *domain.Following) error {
		f.Unfollow(artistID)
		return nil
	})
	if errors.Is(err, state.ErrNotFound) {
		return nil
	}
	return err
}

// Delete removes the account: credentials in auth first (so sign-in stops
// even if the rest fails and is retried), then everything users holds, in
// one transaction, then user.deleted for the other services.
func (s *Service) Delete(ctx context.Context, userID string) error {
	if _, err := s.profiles.Get(ctx, userID); err != nil {
		return err
	}
	if err := s.accounts.Delete(ctx, userID); err != nil {
		return err
	}
	err := state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		s.profiles.Remove(tx, userID)
		s.prefs.Remove(tx, userID)
		s.following.Remove(tx, userID)
		return nil
	})
	if err != nil {
		return err
	}
	s.publish(ctx, events.UserDeleted{UserID: userID, DeletedAt: s.now().UTC()})
	return nil
}
