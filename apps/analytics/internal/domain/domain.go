// Package domain is analytics' model: what each consumed event adds to the
// daily rollups, and the reports read from them.
package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	"github.com/harmonia-music/harmonia/internal/events"
)

// Reports and what each groups by (the first is the default).
var Reports = map[string][]string{
	"plays":         {"track", "album", "artist", "genre"},
	"listeners":     {"country", "device", "ageBand", "all"},
	"subscriptions": {"plan"},
	"revenue":       {"plan"},
}

// Metrics of the subscriptions report (the first is the default).
var SubscriptionMetrics = []string{"new", "cancellations", "churn"}

// Day is a day's key (UTC).
func Day(t time.Time) string { return t.UTC().Format("2006-01-02") }

// RecordKey is where one day's counters of one report and grouping live:
// one record, a map from the grouped value to its count.
func RecordKey(report, groupBy, day string) string { return "r|" + report + "|" + groupBy + "|" + day }

// Delta adds n to key in a record.
type Delta struct {
	Record string
	Key    string
	N      int64
}

// Marker is a first-of-the-day fact: the listener counted once per day and
// grouped value. Its key holds a hash of the listener, never the id.
type Marker struct {
	Key   string
	Delta Delta // applied only when the marker is new
}

// Effect is what one event does to the rollups.
type Effect struct {
	Deltas  []Delta
	Markers []Marker
}

func listenerRef(userID string) string {
	sum := sha256.Sum256([]byte("analytics-listener\x00" + userID))
	return hex.EncodeToString(sum[:12])
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// EventID is what makes a consumed event count once: a play's own id
// (the same play published through the outbox and, after an unclear
// failure, directly carries two CloudEvent ids but one play id), else the
// CloudEvent id.
func EventID(cloudEventID string, e events.Event) string {
	if p, ok := e.(events.TrackPlayed); ok && p.PlayID != "" {
		return "play|" + p.PlayID
	}
	return cloudEventID
}

// Device is a play's device class as reports show it.
func Device(d string) string {
	switch d {
	case "web", "mobile", "desktop":
		return d
	}
	return "other"
}

// PlayEffect counts a play for its track, album, artist and genre, and its
// listener once a day overall and per country, device and age band.
func PlayEffect(e events.TrackPlayed) Effect {
	day := Day(e.PlayedAt)
	var fx Effect
	fx.Deltas = append(fx.Deltas,
		Delta{RecordKey("plays", "track", day), e.TrackID, 1},
		Delta{RecordKey("plays", "album", day), e.AlbumID, 1},
		Delta{RecordKey("plays", "artist", day), orUnknown(e.ArtistID), 1},
		Delta{RecordKey("plays", "genre", day), orUnknown(e.Genre), 1})
	if e.UserID == "" {
		return fx
	}
	ref := listenerRef(e.UserID)
	for _, g := range []struct{ by, v string }{{"all", "all"}, {"country", orUnknown(e.Country)}, {"device", Device(e.Device)},
		{"ageBand", orUnknown(e.AgeBand)}} {
		fx.Markers = append(fx.Markers, Marker{Key: "l|" + day + "|" + g.by + "|" + g.v + "|" + ref,
			Delta: Delta{RecordKey("listeners", g.by, day), g.v, 1}})
	}
	return fx
}

// SubscriptionEffect counts activations as new, cancellations, and every
// end (cancelled or expired) as churn, by plan, on the event's day.
func SubscriptionEffect(topic string, s events.Subscription) Effect {
	day := Day(s.At)
	switch topic {
	case events.TopicSubscriptionActivated:
		return Effect{Deltas: []Delta{{RecordKey("subscriptions-new", "plan", day), s.PlanID, 1}}}
	case events.TopicSubscriptionCancelled:
		return Effect{Deltas: []Delta{{RecordKey("subscriptions-cancellations", "plan", day), s.PlanID, 1},
			{RecordKey("subscriptions-churn", "plan", day), s.PlanID, 1}}}
	case events.TopicSubscriptionExpired:
		return Effect{Deltas: []Delta{{RecordKey("subscriptions-churn", "plan", day), s.PlanID, 1}}}
	}
	return Effect{}
}

// RevenueKey is a revenue series' key: the plan and the currency.
func RevenueKey(plan, currency string) string { return orUnknown(plan) + " " + currency }

// PaymentEffect adds a succeeded charge's amount to revenue and takes a
// refunded one's away, by plan and currency, on the event's day.
func PaymentEffect(topic string, c events.Charge) Effect {
	day := Day(c.At)
	switch topic {
	case events.TopicPaymentSucceeded:
		return Effect{Deltas: []Delta{{RecordKey("revenue", "plan", day), RevenueKey(c.PlanID, c.Currency), c.Amount}}}
	case events.TopicPaymentRefunded:
		return Effect{Deltas: []Delta{{RecordKey("revenue", "plan", day), RevenueKey(c.PlanID, c.Currency), -c.Amount}}}
	}
	return Effect{}
}

// Point is one day's value.
type Point struct {
	Day   string `json:"day"`
	Value int64  `json:"value"`
}

// Series is one grouped value over the days.
type Series struct {
	Key    string  `json:"key"`
	Total  int64   `json:"total"`
	Points []Point `json:"points"`
}

// Report is a report's answer.
type Report struct {
	Report  string   `json:"report"`
	GroupBy string   `json:"groupBy"`
	Metric  string   `json:"metric,omitempty"`
	From    string   `json:"from"`
	To      string   `json:"to"`
	Unit    string   `json:"unit"`
	Series  []Series `json:"series"`
}

// Days lists the days from..to, inclusive.
func Days(from, to time.Time) []string {
	var out []string
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		out = append(out, Day(d))
	}
	return out
}

// Build makes the series from each day's record (nil for a day without),
// every day present, the top series by total first (ties by key).
func Build(days []string, records []map[string]int64, top int) []Series {
	byKey := map[string]*Series{}
	for i, rec := range records {
		for k, v := range rec {
			s, ok := byKey[k]
			if !ok {
				s = &Series{Key: k, Points: make([]Point, len(days))}
				for j, d := range days {
					s.Points[j].Day = d
				}
				byKey[k] = s
			}
			s.Points[i].Value += v
			s.Total += v
		}
	}
	out := make([]Series, 0, len(byKey))
	for _, s := range byKey {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Total != out[j].Total {
			return out[i].Total > out[j].Total
		}
		return out[i].Key < out[j].Key
	})
	if top > 0 && len(out) > top {
		out = out[:top]
	}
	return out
}

// Unit says what a report's values are.
func Unit(report string) string {
	switch report {
	case "plays":
		return "plays"
	case "listeners":
		return "distinct listeners a day"
	case "revenue":
		return "minor units (cents) of the series' currency"
	}
	return "subscriptions"
}

// Title is a chart's title.
func (r Report) Title() string {
	t := fmt.Sprintf("%s by %s", r.Report, r.GroupBy)
	if r.Metric != "" {
		t = fmt.Sprintf("%s (%s) by %s", r.Report, r.Metric, r.GroupBy)
	}
	return t + ", " + r.From + " to " + r.To
}
