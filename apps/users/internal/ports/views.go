package ports

import (
	"time"

	"github.com/harmonia-music/harmonia/apps/users/internal/domain"
)

// profileView is a profile as its owner sees it.
type profileView struct {
	ID          string    `json:"id"`
	Email       string    `json:"email"`
	DisplayName string    `json:"displayName"`
	Country     string    `json:"country,omitempty"`
	BirthYear   int       `json:"birthYear,omitempty"`
	Phone       string    `json:"phone,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

func profileOf(p *domain.Profile) profileView {
	return profileView{ID: p.ID, Email: p.Email, DisplayName: p.DisplayName, Country: p.Country, BirthYear: p.BirthYear,
		Phone: p.Phone, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

// newProfileRequest is auth's call at sign-up (POST /internal/users).
type newProfileRequest struct {
	ID          string `json:"id"`
	Email       string `json:"email"`
	DisplayName string `json:"displayName"`
	Country     string `json:"country"`
	BirthYear   int    `json:"birthYear"`
	Phone       string `json:"phone"`
}

func (r newProfileRequest) profile() domain.Profile {
	return domain.Profile{ID: r.ID, Email: r.Email, DisplayName: r.DisplayName, Country: r.Country, BirthYear: r.BirthYear, Phone: r.Phone}
}

// listenerFacts is what other services may read of a listener.
type listenerFacts struct {
	ID        string `json:"id"`
	Country   string `json:"country"`
	BirthYear int    `json:"birthYear"`
}

type channelsView struct {
	Email bool `json:"email"`
	SMS   bool `json:"sms"`
	InApp bool `json:"inApp"`
}

// preferencesView is what the listener chose.
type preferencesView struct {
	FavouriteGenres []string     `json:"favouriteGenres"`
	Notifications   channelsView `json:"notifications"`
	MarketingOptIn  bool         `json:"marketingOptIn"`
	UpdatedAt       time.Time    `json:"updatedAt"`
}

func preferencesOf(p *domain.Preferences) preferencesView {
	genres := p.FavouriteGenres
	if genres == nil {
		genres = []string{}
	}
	return preferencesView{FavouriteGenres: genres, MarketingOptIn: p.MarketingOptIn, UpdatedAt: p.UpdatedAt,
		Notifications: channelsView{Email: p.Notifications.Email, SMS: p.Notifications.SMS, InApp: p.Notifications.InApp}}
}

// deletionView answers a deletion that was recorded and finishes later.
type deletionView struct {
	Status string `json:"status"` // "deleting"
}

// playerView is where the listener's player stands.
type playerView struct {
	TrackIDs   []string  `json:"trackIds"`
	Index      int       `json:"index"`
	PositionMs int64     `json:"positionMs"`
	Volume     float64   `json:"volume"`
	UpdatedAt  time.Time `json:"updatedAt,omitzero"`
}

func playerOf(p *domain.Player) playerView {
	ids := p.TrackIDs
	if ids == nil {
		ids = []string{}
	}
	return playerView{TrackIDs: ids, Index: p.Index, PositionMs: p.PositionMs, Volume: p.Volume, UpdatedAt: p.UpdatedAt}
}
