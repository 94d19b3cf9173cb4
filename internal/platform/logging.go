package platform

import (
	"io"
	"log/slog"
	"strings"
)

// NewLogger returns a JSON logger that tags every record with the service.
func NewLogger(w io.Writer, service, level string) *slog.Logger {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lv = slog.LevelDebug
	case "warn":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		lv = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv})).With(slog.String("service", service))
}
