package platform

import (
	"errors"
	"net/http"

	"github.com/harmonia-music/harmonia/internal/platform/fault"
)

// Aliases so handlers can say platform.E and friends.
type (
	Kind          = fault.Kind
	Error         = fault.Error
	FieldError    = fault.FieldError
	Validation    = fault.Validation
	UpstreamError = fault.UpstreamError
	Problem       = fault.Problem
)

const (
	KindInternal            = fault.KindInternal
	KindInvalid             = fault.KindInvalid
	KindUnauthenticated     = fault.KindUnauthenticated
	KindForbidden           = fault.KindForbidden
	KindNotFound            = fault.KindNotFound
	KindConflict            = fault.KindConflict
	KindPrecondition        = fault.KindPrecondition
	KindTooMany             = fault.KindTooMany
	KindUnavailable         = fault.KindUnavailable
	KindPayload             = fault.KindPayload
	KindUnsupportedMedia    = fault.KindUnsupportedMedia
	KindRangeNotSatisfiable = fault.KindRangeNotSatisfiable
)

var (
	E       = fault.E
	Wrap    = fault.Wrap
	Invalid = fault.Invalid
)

var statusByKind = map[Kind]int{
	KindInternal:            http.StatusInternalServerError,
	KindInvalid:             http.StatusBadRequest,
	KindUnauthenticated:     http.StatusUnauthorized,
	KindForbidden:           http.StatusForbidden,
	KindNotFound:            http.StatusNotFound,
	KindConflict:            http.StatusConflict,
	KindPrecondition:        http.StatusPreconditionFailed,
	KindTooMany:             http.StatusTooManyRequests,
	KindUnavailable:         http.StatusServiceUnavailable,
	KindPayload:             http.StatusRequestEntityTooLarge,
	KindUnsupportedMedia:    http.StatusUnsupportedMediaType,
	KindRangeNotSatisfiable: http.StatusRequestedRangeNotSatisfiable,
}

// StatusOf is the one place that maps an error to an HTTP status.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		if s, ok := statusByKind[e.Kind]; ok {
			return s
		}
	}
	var u *UpstreamError
	if errors.As(err, &u) {
		return u.Status
	}
	return http.StatusInternalServerError
}
