package e2e

import (
	"strings"
	"testing"
)

type profile struct {
	ID          string `json:"id"`
	Email       string `json:"email"`
	DisplayName string `json:"displayName"`
	Country     string `json:"country"`
	BirthYear   int    `json:"birthYear"`
	Phone       string `json:"phone"`
}

func TestProfileReadAndUpdate(t *testing.T) {
	a := newAccount(t)
	r := do(t, "GET", gw+"/me", a.AccessToken, nil)
	expect(t, r, 200)
	var p profile
	r.json(t, &p)
	if p.ID != a.UserID || p.Email != a.Email || p.Country != "PT" || p.BirthYear != 1990 {
		t.Fatalf("profile after sign-up: %+v", p)
	}
	r = do(t, "PATCH", gw+"/me", a.AccessToken, map[string]any{"displayName": "Renamed", "phone": "+351912345678", "birthYear": nil})
	expect(t, r, 200)
	r = do(t, "GET", gw+"/me", a.AccessToken, nil)
	p = profile{}
	r.json(t, &p)
	if p.DisplayName != "Renamed" || p.Phone != "+351912345678" || p.BirthYear != 0 || p.Country != "PT" {
		t.Fatalf("profile after patch: %+v", p)
	}
}

func TestEmailChangeMovesTheSignIn(t *testing.T) {
	a := newAccount(t)
	b := newAccount(t)
	newEmail := "moved-" + randomHex(5) + "@example.com"
	expect(t, do(t, "PATCH", gw+"/me", a.AccessToken, map[string]any{"email": newEmail}), 200)
	expect(t, login(t, newEmail, a.Password), 200)
	expectProblem(t, login(t, a.Email, a.Password), 401, "")
	// someone else's address is taken, and nothing changes
	expectProblem(t, do(t, "PATCH", gw+"/me", a.AccessToken, map[string]any{"email": b.Email}), 409, "")
	var p profile
	do(t, "GET", gw+"/me", a.AccessToken, nil).json(t, &p)
	if p.Email != newEmail {
		t.Fatalf("email after a refused change: %s", p.Email)
	}
	expect(t, login(t, b.Email, b.Password), 200)
}

func TestPreferences(t *testing.T) {
	a := newAccount(t)
	r := do(t, "GET", gw+"/me/preferences", a.AccessToken, nil)
	expect(t, r, 200)
	var prefs struct {
		FavouriteGenres []string `json:"favouriteGenres"`
		Notifications   struct {
			Email, SMS, InApp bool
		} `json:"notifications"`
		MarketingOptIn bool `json:"marketingOptIn"`
	}
	r.json(t, &prefs)
	if !prefs.Notifications.Email || !prefs.Notifications.InApp || prefs.Notifications.SMS || prefs.MarketingOptIn {
		t.Fatalf("default preferences: %s", r.Body)
	}
	expect(t, do(t, "PUT", gw+"/me/preferences", a.AccessToken, map[string]any{
		"favouriteGenres": []string{"Jazz", "fado", "jazz"},
		"notifications":   map[string]bool{"email": false, "sms": true, "inApp": true},
		"marketingOptIn":  true}), 200)
	r = do(t, "GET", gw+"/me/preferences", a.AccessToken, nil)
	r.json(t, &prefs)
	if strings.Join(prefs.FavouriteGenres, ",") != "jazz,fado" || prefs.Notifications.Email || !prefs.Notifications.SMS || !prefs.MarketingOptIn {
		t.Fatalf("preferences after update: %s", r.Body)
	}
}

func TestFollowingArtists(t *testing.T) {
	a := newAccount(t)
	artist := "01930000-0000-7000-8000-0000000000a1"
	expect(t, do(t, "PUT", gw+"/me/following/"+artist, a.AccessToken, nil), 204)
	expect(t, do(t, "PUT", gw+"/me/following/"+artist, a.AccessToken, nil), 204) // idempotent
	var list struct{ Items []string }
	do(t, "GET", gw+"/me/following", a.AccessToken, nil).json(t, &list)
	if len(list.Items) != 1 || list.Items[0] != artist {
		t.Fatalf("following: %v", list.Items)
	}
	expect(t, do(t, "DELETE", gw+"/me/following/"+artist, a.AccessToken, nil), 204)
	do(t, "GET", gw+"/me/following", a.AccessToken, nil).json(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("following after unfollow: %v", list.Items)
	}
}

func TestDeleteAccount(t *testing.T) {
	a := newAccount(t)
	expect(t, do(t, "DELETE", gw+"/me", a.AccessToken, nil), 204)
	expectProblem(t, login(t, a.Email, a.Password), 401, "")
	expectProblem(t, do(t, "POST", gw+"/auth/refresh", "", map[string]string{"refreshToken": a.RefreshToken}), 401, "")
	expectProblem(t, do(t, "GET", gw+"/me", a.AccessToken, nil), 404, "")
	// the address is free again
	expect(t, do(t, "POST", gw+"/auth/register", "", map[string]any{"email": a.Email, "password": a.Password, "displayName": "Again"}), 201)
}

func TestNobodyReachesAnotherUsersData(t *testing.T) {
	a := newAccount(t)
	b := newAccount(t)
	// Identity headers from a client are ignored: the gateway sets its own.
	r := do(t, "GET", gw+"/me", a.AccessToken, nil, "X-User-Id", b.UserID, "X-User-Roles", "admin")
	expect(t, r, 200)
	var p profile
	r.json(t, &p)
	if p.ID != a.UserID {
		t.Fatalf("read %s's profile with %s's token", p.ID, a.UserID)
	}
	expect(t, do(t, "PATCH", gw+"/me", a.AccessToken, map[string]any{"displayName": "Hacked"}, "X-User-Id", b.UserID), 200)
	do(t, "GET", gw+"/me", b.AccessToken, nil).json(t, &p)
	if p.DisplayName == "Hacked" {
		t.Fatal("changed another user's profile")
	}
	// internal operations are not routed by the gateway at all
	expectProblem(t, do(t, "DELETE", gw+"/../internal/accounts/"+b.UserID, a.AccessToken, nil), 404, "")
	expectProblem(t, do(t, "DELETE", stack.GatewayURL+"/internal/accounts/"+b.UserID, a.AccessToken, nil), 404, "")
	expect(t, login(t, b.Email, b.Password), 200)
}

// The player's saved state (queue, position, volume) is the listener's
// own: bad input names its field, and another listener reads only theirs.
func TestPlayerStateIsSavedPerListener(t *testing.T) {
	a, b := newAccount(t), newAccount(t)
	var empty struct {
		TrackIDs []string `json:"trackIds"`
		Index    int      `json:"index"`
	}
	r := do(t, "GET", gw+"/me/player", a.AccessToken, nil)
	expect(t, r, 200)
	r.json(t, &empty)
	if empty.TrackIDs == nil || len(empty.TrackIDs) != 0 {
		t.Fatalf("a new listener's queue: %s", r.Body)
	}
	ids := publishedTracks(t, 3)
	r = do(t, "PUT", gw+"/me/player", a.AccessToken, map[string]any{"trackIds": ids, "index": 1, "positionMs": 4200, "volume": 0.5})
	expect(t, r, 200)
	var got struct {
		TrackIDs   []string `json:"trackIds"`
		Index      int      `json:"index"`
		PositionMs int64    `json:"positionMs"`
		Volume     float64  `json:"volume"`
	}
	do(t, "GET", gw+"/me/player", a.AccessToken, nil).json(t, &got)
	if strings.Join(got.TrackIDs, ",") != strings.Join(ids, ",") || got.Index != 1 || got.PositionMs != 4200 || got.Volume != 0.5 {
		t.Fatalf("saved state: %+v", got)
	}
	// b sees an empty queue, not a's
	do(t, "GET", gw+"/me/player", b.AccessToken, nil).json(t, &got)
	if len(got.TrackIDs) != 0 {
		t.Fatalf("another listener read a's queue: %+v", got)
	}
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"index": 0, "positionMs": 0}, "trackIds"},
		{map[string]any{"trackIds": []string{"not-a-track"}, "index": 0, "positionMs": 0}, "trackIds[0]"},
		{map[string]any{"trackIds": ids, "index": 3, "positionMs": 0}, "index"},
		{map[string]any{"trackIds": ids, "index": 0, "positionMs": -1}, "positionMs"},
		{map[string]any{"trackIds": ids, "index": 0, "positionMs": 0, "volume": 2}, "volume"},
	} {
		expectProblem(t, do(t, "PUT", gw+"/me/player", a.AccessToken, c.body), 400, c.field)
	}
	// a failed write changed nothing
	do(t, "GET", gw+"/me/player", a.AccessToken, nil).json(t, &got)
	if got.Index != 1 || len(got.TrackIDs) != 3 {
		t.Fatalf("a refused write changed the state: %+v", got)
	}
	expect(t, do(t, "GET", gw+"/me/player", "", nil), 401)
}
