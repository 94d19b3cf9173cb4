package platform

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
)

// ProblemContentType is RFC 9457's media type.
const ProblemContentType = "application/problem+json"

// ProblemTypeBase prefixes every problem "type" URI.
const ProblemTypeBase = "https://harmonia.dev/problems/"

// WriteProblem writes p with the problem media type.
func WriteProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", ProblemContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// ProblemFor converts err into the problem a client sees. Internal errors never
// show their text.
func ProblemFor(r *http.Request, err error) Problem {
	status := StatusOf(err)
	p := Problem{Status: status, Title: http.StatusText(status), Instance: r.URL.Path, RequestID: RequestID(r.Context())}
	var u *UpstreamError
	var e *Error
	switch {
	case errors.As(err, &u):
		p = u.Problem
		p.Instance = r.URL.Path
		p.RequestID = RequestID(r.Context())
		if p.Status == 0 {
			p.Status = u.Status
		}
	case errors.As(err, &e) && e.Kind != KindInternal:
		p.Type = ProblemTypeBase + e.Code
		p.Detail = e.Detail
		p.Errors = e.Fields
	default:
		p.Type = ProblemTypeBase + "internal"
		p.Detail = "an unexpected error occurred; quote the request id when reporting it"
	}
	if p.Type == "" {
		p.Type = "about:blank"
	}
	return p
}

// WriteError logs (when it is a server error) and answers err as a problem.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	p := ProblemFor(r, err)
	if p.Status >= 500 {
		Logger(r.Context()).Error("request failed", slog.String("error", err.Error()), slog.Int("status", p.Status))
	}
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	WriteProblem(w, p)
}

// NotFoundHandler answers unknown routes with a problem.
func NotFoundHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, E(KindNotFound, "not-found", "no such resource"))
	})
}

// MethodNotAllowedHandler answers known routes with the wrong method.
func MethodNotAllowedHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteProblem(w, Problem{Type: ProblemTypeBase + "method-not-allowed", Title: "Method Not Allowed",
			Status: http.StatusMethodNotAllowed, Detail: "this resource does not support " + r.Method,
			Instance: r.URL.Path, RequestID: RequestID(r.Context())})
	})
}
