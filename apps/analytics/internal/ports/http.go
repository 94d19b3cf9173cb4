// Package ports translates HTTP and events to analytics' use cases.
package ports

import (
	"context"
	"encoding/csv"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/harmonia-music/harmonia/apps/analytics/internal/app"
	"github.com/harmonia-music/harmonia/apps/analytics/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/fault"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
)

// Routes mounts the admin reports.
func Routes(r *mux.Router, s *app.Service, now func() time.Time) {
	h := handlers{s: s, now: now}
	r.HandleFunc("/api/v1/admin/analytics/{report}", h.report).Methods(http.MethodGet)
}

// Events subscribes analytics to what it counts. Each handler returns once
// the event's batch is committed.
func Events(r *mux.Router, subs *pubsub.Subscriptions, s *app.Service) {
	consume := func(ctx context.Context, e events.Event, fx domain.Effect) error {
		env, _ := pubsub.Envelope(ctx)
		id := domain.EventID(env.ID, e)
		if id == "" {
			return errors.Join(pubsub.ErrDrop, errors.New("an event without an id"))
		}
		at, _ := time.Parse(time.RFC3339Nano, env.Time)
		return s.Consume(ctx, app.Incoming{ID: id, Topic: e.Topic(), Time: at, Data: env.Data, Effect: fx})
	}
	pubsub.On(r, subs, func(ctx context.Context, e events.TrackPlayed) error { return consume(ctx, e, domain.PlayEffect(e)) })
	pubsub.On(r, subs, func(ctx context.Context, e events.SubscriptionActivated) error {
		return consume(ctx, e, domain.SubscriptionEffect(e.Topic(), e.Subscription))
	})
	pubsub.On(r, subs, func(ctx context.Context, e events.SubscriptionRenewed) error {
		return consume(ctx, e, domain.SubscriptionEffect(e.Topic(), e.Subscription))
	})
	pubsub.On(r, subs, func(ctx context.Context, e events.SubscriptionPaymentFailed) error {
		return consume(ctx, e, domain.SubscriptionEffect(e.Topic(), e.Subscription))
	})
	pubsub.On(r, subs, func(ctx context.Context, e events.SubscriptionCancelled) error {
		return consume(ctx, e, domain.SubscriptionEffect(e.Topic(), e.Subscription))
	})
	pubsub.On(r, subs, func(ctx context.Context, e events.SubscriptionExpired) error {
		return consume(ctx, e, domain.SubscriptionEffect(e.Topic(), e.Subscription))
	})
	pubsub.On(r, subs, func(ctx context.Context, e events.PaymentSucceeded) error {
		return consume(ctx, e, domain.PaymentEffect(e.Topic(), e.Charge))
	})
	pubsub.On(r, subs, func(ctx context.Context, e events.PaymentFailed) error {
		return consume(ctx, e, domain.PaymentEffect(e.Topic(), e.Charge))
	})
	pubsub.On(r, subs, func(ctx context.Context, e events.PaymentRefunded) error {
		return consume(ctx, e, domain.PaymentEffect(e.Topic(), e.Charge))
	})
	// Accounts: exported for the warehouse (no contact details are in
	// them); the rollups need nothing from them.
	pubsub.On(r, subs, func(ctx context.Context, e events.UserRegistered) error { return consume(ctx, e, domain.Effect{}) })
	pubsub.On(r, subs, func(ctx context.Context, e events.UserUpdated) error { return consume(ctx, e, domain.Effect{}) })
	pubsub.On(r, subs, func(ctx context.Context, e events.UserDeleted) error { return consume(ctx, e, domain.Effect{}) })
}

type handlers struct {
	s   *app.Service
	now func() time.Time
}

// MaxDays bounds a report's range.
const MaxDays = 366

func (h handlers) report(w http.ResponseWriter, r *http.Request) {
	if _, ok := platform.RequireAdmin(w, r); !ok {
		return
	}
	q, format, err := h.parse(r)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	rep, err := h.s.Report(r.Context(), q)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "private, no-store")
	switch format {
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+rep.Report+"-"+rep.From+"-"+rep.To+`.csv"`)
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"day", rep.GroupBy, "value"})
		for _, s := range rep.Series {
			for _, p := range s.Points {
				_ = cw.Write([]string{p.Day, csvSafe(s.Key), strconv.FormatInt(p.Value, 10)})
			}
		}
		cw.Flush()
	case "svg":
		w.Header().Set("Content-Type", "image/svg+xml; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write([]byte(domain.SVG(rep)))
	default:
		platform.WriteJSON(w, http.StatusOK, rep)
	}
}

// csvSafe keeps a spreadsheet from reading a key as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (h handlers) parse(r *http.Request) (app.ReportQuery, string, error) {
	report := mux.Vars(r)["report"]
	groupings, ok := domain.Reports[report]
	if !ok {
		return app.ReportQuery{}, "", fault.E(fault.KindNotFound, "no-such-report", "reports are plays, listeners, subscriptions and revenue")
	}
	v := r.URL.Query()
	var val fault.Validation
	q := app.ReportQuery{Report: report, GroupBy: v.Get("groupBy")}
	if q.GroupBy == "" {
		q.GroupBy = groupings[0]
	} else if !slices.Contains(groupings, q.GroupBy) {
		val.Add("groupBy", "%s groups by %s", report, strings.Join(groupings, ", "))
	}
	if report == "subscriptions" {
		q.Metric = v.Get("metric")
		if q.Metric == "" {
			q.Metric = domain.SubscriptionMetrics[0]
		} else if !slices.Contains(domain.SubscriptionMetrics, q.Metric) {
			val.Add("metric", "must be one of %s", strings.Join(domain.SubscriptionMetrics, ", "))
		}
	} else if v.Get("metric") != "" {
		val.Add("metric", "only the subscriptions report has metrics")
	}
	format := v.Get("format")
	if format == "" {
		format = "json"
	}
	if !slices.Contains([]string{"json", "csv", "svg"}, format) {
		val.Add("format", "must be json, csv or svg")
	}
	today := h.now().UTC().Truncate(24 * time.Hour)
	q.To = today
	if s := v.Get("to"); s != "" {
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			val.Add("to", "must be a date such as 2026-11-28")
		}
		q.To = t
	}
	q.From = q.To.AddDate(0, 0, -29)
	if s := v.Get("from"); s != "" {
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			val.Add("from", "must be a date such as 2026-11-01")
		}
		q.From = t
	}
	if q.To.Before(q.From) {
		val.Add("to", "must not be before from")
	} else if days := int(q.To.Sub(q.From).Hours()/24) + 1; days > MaxDays {
		val.Add("from", "a report covers at most %d days", MaxDays)
	}
	top, err := platform.QueryLimit(v.Get("top"), 10, 100)
	if err != nil {
		val.Add("top", "must be a number between 1 and 100")
	}
	q.Top = top
	if err := val.Err(); err != nil {
		return q, "", err
	}
	return q, format, nil
}
