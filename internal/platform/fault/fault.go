// Package fault classifies errors without any transport: domain packages use
// it to say what went wrong; platform.StatusOf maps kinds to HTTP in one place.
package fault

import (
	"errors"
	"fmt"
)

// Kind classifies an error for the single place (StatusOf) that maps errors to
// HTTP status codes. Domain packages declare their own sentinel errors and wrap
// them with a Kind via E, so the domain never imports net/http.
type Kind int

const (
	KindInternal Kind = iota
	KindInvalid
	KindUnauthenticated
	KindForbidden
	KindNotFound
	KindConflict
	KindPrecondition
	KindTooMany
	KindUnavailable
	KindPayload
	KindUnsupportedMedia
	KindRangeNotSatisfiable
)

// FieldError names one invalid field of a request, as RFC 9457's "errors" member.
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// Error is an error with a kind, a message safe to show to clients, and for
// validation errors, the fields at fault.
type Error struct {
	Kind       Kind
	Code       string // short machine-readable code, becomes the problem type suffix
	Detail     string
	Fields     []FieldError
	RetryAfter int // seconds, for KindTooMany and KindUnavailable
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Detail + ": " + e.Err.Error()
	}
	return e.Detail
}

func (e *Error) Unwrap() error { return e.Err }

// E builds an *Error.
func E(kind Kind, code, detail string) *Error { return &Error{Kind: kind, Code: code, Detail: detail} }

// Wrap attaches a kind to an underlying error without exposing its text.
func Wrap(kind Kind, code, detail string, err error) *Error {
	return &Error{Kind: kind, Code: code, Detail: detail, Err: err}
}

// Validation collects field errors; Err returns nil when there are none.
type Validation struct{ fields []FieldError }

// Add records a problem with one field.
func (v *Validation) Add(field, format string, args ...any) {
	v.fields = append(v.fields, FieldError{Field: field, Detail: fmt.Sprintf(format, args...)})
}

// Check adds the field error when ok is false.
func (v *Validation) Check(ok bool, field, format string, args ...any) {
	if !ok {
		v.Add(field, format, args...)
	}
}

// Err returns the collected validation error, or nil.
func (v *Validation) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &Error{Kind: KindInvalid, Code: "validation", Detail: "the request has invalid fields", Fields: v.fields}
}

// Invalid is a one-field validation error.
func Invalid(field, detail string) error {
	return &Error{Kind: KindInvalid, Code: "validation", Detail: "the request has invalid fields",
		Fields: []FieldError{{Field: field, Detail: detail}}}
}

// UpstreamError is a problem answered by another service that a handler passes on.
type UpstreamError struct {
	Status  int
	Problem Problem
}

func (u *UpstreamError) Error() string {
	return fmt.Sprintf("upstream answered %d: %s", u.Status, u.Problem.Detail)
}

// Problem is an RFC 9457 problem details object.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	Instance  string       `json:"instance,omitempty"`
	RequestID string       `json:"requestId,omitempty"`
	Errors    []FieldError `json:"errors,omitempty"`
}

// KindOfConflict reports whether err is (or passes on) a 409 conflict.
func KindOfConflict(err error) bool { return is(err, KindConflict, 409) }

// IsNotFound reports whether err is (or passes on) a 404 not found.
func IsNotFound(err error) bool { return is(err, KindNotFound, 404) }

// is reports whether err has kind, or is another service's answer with status.
func is(err error, kind Kind, status int) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind == kind
	}
	var u *UpstreamError
	return errors.As(err, &u) && u.Status == status
}
