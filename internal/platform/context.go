package platform

import (
	"context"
	"log/slog"
	"strings"
)

type ctxKey int

const (
	ctxRequestID ctxKey = iota
	ctxLogger
	ctxCaller
	ctxTraceID
)

// Header names the gateway sets on requests it forwards. Services trust them
// only because their sidecar's access-control policy lets only the gateway
// call the public routes, and the app token lets only their sidecar call them.
const (
	HeaderRequestID = "X-Request-Id"
	HeaderUserID    = "X-User-Id"
	HeaderUserRoles = "X-User-Roles"
	HeaderClientIP  = "X-Client-Ip"
	HeaderDevice    = "X-Harmonia-Device" // web, mobile, desktop or other (analytics)
	HeaderAppToken  = "dapr-api-token"
)

// Caller is the verified user a request acts for, as the gateway asserted.
type Caller struct {
	UserID   string
	Roles    []string
	ClientIP string
}

// HasRole reports whether the caller holds role.
func (c Caller) HasRole(role string) bool {
	for _, r := range c.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// WithRequestID stores the request id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxRequestID, id)
}

// RequestID returns the request id, or "".
func RequestID(ctx context.Context) string {
	v, _ := ctx.Value(ctxRequestID).(string)
	return v
}

// WithTraceID stores the W3C trace id of the request.
func WithTraceID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxTraceID, id)
}

// TraceID returns the request's trace id, or "".
func TraceID(ctx context.Context) string {
	v, _ := ctx.Value(ctxTraceID).(string)
	return v
}

// TraceIDFromParent extracts the trace id from a traceparent header value.
func TraceIDFromParent(tp string) string {
	parts := strings.Split(tp, "-")
	if len(parts) == 4 && len(parts[1]) == 32 {
		return parts[1]
	}
	return ""
}

// WithCaller stores the caller.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, ctxCaller, c)
}

// CallerFrom returns the caller and whether one is signed in.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(ctxCaller).(Caller)
	return c, ok && c.UserID != ""
}

// WithLogger stores a logger.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, ctxLogger, l)
}

// Logger returns the request's logger (with service, request_id, trace_id), or slog's default.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(ctxLogger).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}
