// Package domain holds users' rules: profiles, preferences and followed artists.
package domain

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/harmonia-music/harmonia/internal/platform/fault"
	"github.com/harmonia-music/harmonia/internal/platform/validate"
)

// Profile is a user's public and contact details.
type Profile struct {
	ID          string `json:"id"`
	Email       string `json:"email"`
	DisplayName string `json:"displayName"`
	Country     string `json:"country,omitempty"`
	BirthYear   int    `json:"birthYear,omitempty"`
	Phone       string `json:"phone,omitempty"`
	// EmailVersion counts email changes; auth keeps the address of the
	// highest version it was sent.
	EmailVersion int       `json:"emailVersion,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
	// Deleting is set when the account's deletion began: the profile is
	// gone for every reader, and users finishes the deletion (retrying
	// after a failure or a restart) before it removes the record.
	Deleting *time.Time `json:"deleting,omitempty"`
}

// Tombstone is what users keeps of a deleted account: its id and when,
// nothing personal. Writing it commits user.deleted (the outbox), and it
// makes a repeated deletion a no-op.
type Tombstone struct {
	DeletedAt time.Time `json:"deletedAt"`
}

// Deletions lists the accounts whose deletion began and has not finished.
type Deletions struct {
	UserIDs []string `json:"userIds"`
}

// Validate checks a profile's fields.
func (p Profile) Validate(now time.Time) error {
	var v fault.Validation
	validate.ProfileFields(&v, p.Email, p.DisplayName, p.Country, p.BirthYear, p.Phone, now)
	return v.Err()
}

// Channels says how a user wants to be told things.
type Channels struct {
	Email bool `json:"email"`
	SMS   bool `json:"sms"`
	InApp bool `json:"inApp"`
}

// Preferences are a user's listening and contact choices.
type Preferences struct {
	FavouriteGenres []string  `json:"favouriteGenres"`
	Notifications   Channels  `json:"notifications"`
	MarketingOptIn  bool      `json:"marketingOptIn"`
	UpdatedAt       time.Time `json:"updatedAt"`
}

// DefaultPreferences are what a new account starts with.
func DefaultPreferences() Preferences {
	return Preferences{FavouriteGenres: []string{}, Notifications: Channels{Email: true, InApp: true}}
}

// Player is where a listener's player stands, saved so a reload (or another
// device) picks it up: the queue of tracks, the one playing, and how far in.
type Player struct {
	TrackIDs   []string  `json:"trackIds"`
	Index      int       `json:"index"`
	PositionMs int64     `json:"positionMs"`
	Volume     float64   `json:"volume"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// MaxQueue bounds a saved queue.
const MaxQueue = 500

// MaxGenres bounds favourite genres.
const MaxGenres = 20

// NormalizeGenres validates genres and returns them lower-cased, unique, in order.
func NormalizeGenres(in []string) ([]string, error) {
	if len(in) > MaxGenres {
		return nil, fault.Invalid("favouriteGenres", "must list at most 20 genres")
	}
	out := make([]string, 0, len(in))
	for i, g := range in {
		g = strings.ToLower(strings.TrimSpace(g))
		if n := utf8.RuneCountInString(g); n == 0 || n > 40 {
			return nil, fault.Invalid("favouriteGenres["+itoa(i)+"]", "must be 1 to 40 characters")
		}
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out, nil
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// Following is the set of artists a user follows, newest last.
type Following struct {
	ArtistIDs []string `json:"artistIds"`
}

// MaxFollowing bounds how many artists one user follows.
const MaxFollowing = 5000

// ErrFollowLimit is returned past MaxFollowing.
var ErrFollowLimit = fault.E(fault.KindConflict, "follow-limit", "you follow the most artists allowed; unfollow one first")

// Follow adds id; it reports whether anything changed.
func (f *Following) Follow(id string) (bool, error) {
	if slices.Contains(f.ArtistIDs, id) {
		return false, nil
	}
	if len(f.ArtistIDs) >= MaxFollowing {
		return false, ErrFollowLimit
	}
	f.ArtistIDs = append(f.ArtistIDs, id)
	return true, nil
}

// Unfollow removes id; it reports whether anything changed.
func (f *Following) Unfollow(id string) bool {
	i := slices.Index(f.ArtistIDs, id)
	if i < 0 {
		return false
	}
	f.ArtistIDs = slices.Delete(f.ArtistIDs, i, i+1)
	return true
}

// ErrProfileNotFound is returned for an unknown user.
var ErrProfileNotFound = fault.E(fault.KindNotFound, "profile-not-found", "no profile for this account")

// ErrProfileExists is returned when a profile is created twice.
var ErrProfileExists = fault.E(fault.KindConflict, "profile-exists", "a profile for this account already exists")
