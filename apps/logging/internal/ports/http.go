// Package ports translates HTTP and events to the audit log's use cases.
package ports

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/harmonia-music/harmonia/apps/logging/internal/app"
	"github.com/harmonia-music/harmonia/apps/logging/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/audit"
	"github.com/harmonia-music/harmonia/internal/platform/cursor"
	"github.com/harmonia-music/harmonia/internal/platform/fault"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
)

// Routes mounts the admin routes. Reading the log is itself recorded.
func Routes(r *mux.Router, reader *app.Reader, rec *audit.Recorder) {
	h := handlers{reader: reader, rec: rec}
	r.HandleFunc("/api/v1/admin/audit", h.query).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/admin/audit/verify", h.verify).Methods(http.MethodGet)
}

// Events subscribes the writer to audit.recorded and user.deleted.
func Events(r *mux.Router, subs *pubsub.Subscriptions, w *app.Writer) {
	pubsub.On(r, subs, func(ctx context.Context, e events.AuditRecorded) error {
		env, _ := pubsub.Envelope(ctx)
		// The record's own id survives a publisher's retry (a new CloudEvent
		// id each time); older publishers have only the CloudEvent's.
		id := e.RecordID
		if id == "" {
			id = env.ID
		}
		if id == "" || len(id) > 128 {
			return errors.Join(pubsub.ErrDrop, errors.New("an audit event without a usable id"))
		}
		return w.Append(ctx, app.Incoming{EventID: id, Service: env.Source, Event: e})
	})
	pubsub.On(r, subs, func(ctx context.Context, e events.UserDeleted) error { return w.Forget(ctx, e.UserID) })
}

type handlers struct {
	reader *app.Reader
	rec    *audit.Recorder
}

const cursorList = "audit"

// entryView is an entry as the API shows it.
type entryView struct {
	ID string `json:"id"`
	domain.Entry
}

func (h handlers) query(w http.ResponseWriter, r *http.Request) {
	if _, ok := platform.RequireAdmin(w, r); !ok {
		return
	}
	v := r.URL.Query()
	q := app.Query{Actor: v.Get("actor"), Action: v.Get("action"), SubjectID: v.Get("subjectId")}
	var err error
	if q.From, q.To, err = timeRange(v.Get("from"), v.Get("to")); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	if q.Limit, err = platform.QueryLimit(v.Get("limit"), 50, 500); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	before, err := cursor.Decode(v.Get("cursor"), cursorList)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	q.Before = int64(before)
	switch {
	case len(q.Actor) > 64 || strings.ContainsAny(q.Actor, "|\x00"):
		err = fault.Invalid("actor", "must be a user id, system or anonymous")
	case q.Action != "" && !app.Policy(q.Action):
		err = fault.Invalid("action", "is not an action the audit log records (see docs/operations.md)")
	case len(q.SubjectID) > 128 || strings.ContainsAny(q.SubjectID, "|\x00"):
		err = fault.Invalid("subjectId", "must be an id")
	}
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	page, err := h.reader.Query(r.Context(), q)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	// Which filters were used; a subject id is not kept (it may be anyone's).
	var filters []string
	for _, f := range []string{"actor", "action", "subjectId", "from", "to", "cursor"} {
		if v.Get(f) != "" {
			filters = append(filters, f)
		}
	}
	h.rec.Record(r.Context(), audit.Record{Action: "admin.audit.read", Details: map[string]string{
		"actor": q.Actor, "action": q.Action, "filters": strings.Join(filters, ","), "from": v.Get("from"), "to": v.Get("to")}})
	items := make([]entryView, len(page.Items))
	for i, e := range page.Items {
		items[i] = entryView{ID: e.ID(), Entry: e}
	}
	out := map[string]any{"items": items}
	if page.Next > 0 {
		out["nextCursor"] = cursor.Encode(int(page.Next), cursorList)
	}
	platform.WriteJSON(w, http.StatusOK, out)
}

func (h handlers) verify(w http.ResponseWriter, r *http.Request) {
	if _, ok := platform.RequireAdmin(w, r); !ok {
		return
	}
	from, to, err := timeRange(r.URL.Query().Get("from"), r.URL.Query().Get("to"))
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	res, err := h.reader.Verify(r.Context(), from, to)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	h.rec.Record(r.Context(), audit.Record{Action: "admin.audit.verified", Outcome: outcome(res.OK), Details: map[string]string{
		"ok": strconv.FormatBool(res.OK), "entries": strconv.FormatInt(res.Entries, 10),
		"from": r.URL.Query().Get("from"), "to": r.URL.Query().Get("to")}})
	platform.WriteJSON(w, http.StatusOK, res)
}

func outcome(ok bool) string {
	if ok {
		return audit.Success
	}
	return audit.Failure
}

// timeRange reads from and to: RFC 3339 times, or dates (a date "to" means
// the end of that day).
func timeRange(from, to string) (time.Time, time.Time, error) {
	f, err := parseTime("from", from, false)
	if err != nil {
		return f, f, err
	}
	t, err := parseTime("to", to, true)
	if err != nil {
		return f, t, err
	}
	if !f.IsZero() && !t.IsZero() && t.Before(f) {
		return f, t, fault.Invalid("to", "must not be before from")
	}
	return f, t, nil
}

func parseTime(field, s string, endOfDay bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if d, err := time.Parse("2006-01-02", s); err == nil {
		if endOfDay {
			d = d.Add(24*time.Hour - time.Nanosecond)
		}
		return d, nil
	}
	return time.Time{}, fault.Invalid(field, "must be a date (2026-11-28) or an RFC 3339 time (2026-11-28T10:00:00Z)")
}
