package diy

import (
	"io"
	"log/slog"
	"os"
)

// NewLogger returns a logger writing one JSON object per line in the shape
// Cloud Logging reads from a function's output: the level as "severity"
// (DEBUG, INFO, WARNING, ERROR) and the text as "message"; other
// attributes become fields of jsonPayload.
func NewLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.LevelKey:
				return slog.String("severity", severity(a.Value.Any()))
			case slog.MessageKey:
				a.Key = "message"
			}
			return a
		},
	}))
}

func severity(v any) string {
	l, _ := v.(slog.Level)
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "INFO"
	}
	return "DEBUG"
}

// logStartFailure reports, on every call, why the instance could not start.
func logStartFailure(err error) {
	NewLogger(os.Stderr).Error("the integration could not start", "error", err.Error())
}
