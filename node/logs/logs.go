// Package logs is how a node's log lines are written: through log/slog,
// as readable lines for a person (the default) or as JSON for a
// collector, at a level the operator chooses.
//
// A log line says what the node did with the network and the disk, never
// what a member wrote: no line holds a title, a body or an applicant
// identifier (cmd/murmur's TestLogsHoldNoContent plants markers in all
// three and reads every line of a run for them). Lines name devices and
// organisations, as `murmur peers` does.
package logs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	gosync "sync"
	"time"
)

// Options choose how lines are written.
type Options struct {
	// Format is "text" (the default: "2006-01-02 15:04:05 message", in
	// local time, the level named when it is not info) or "json" (one object a line:
	// time, level, msg and the line's fields).
	Format string
	// Level is the least level written (slog.LevelInfo if zero).
	Level slog.Level
	// Clean, if set, rewrites each message and error before it is
	// written (cmd/murmur: one line, no package prefixes).
	Clean func(string) string
}

// New returns a logger writing to w as o says.
func New(w io.Writer, o Options) (*slog.Logger, error) {
	clean := o.Clean
	if clean == nil {
		clean = func(s string) string { return s }
	}
	switch strings.ToLower(o.Format) {
	case "", "text":
		return slog.New(&text{w: w, level: o.Level, clean: clean, mu: new(gosync.Mutex)}), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: o.Level, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			switch v := a.Value.Any().(type) {
			case string:
				if a.Key == slog.MessageKey {
					a.Value = slog.StringValue(clean(v))
				}
			case error:
				a.Value = slog.StringValue(clean(v.Error()))
			}
			return a
		}})), nil
	}
	return nil, fmt.Errorf("log format %q: say text or json", o.Format)
}

// ParseLevel reads a level as --log-level takes it.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log level %q: say debug, info, warn or error", s)
}

// Discard is a logger that writes nothing.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Or is l, or a logger that writes nothing when l is nil.
func Or(l *slog.Logger) *slog.Logger {
	if l == nil {
		return Discard()
	}
	return l
}

// Printf is a logger that hands each line's message, at every level, to
// printf (a test's t.Logf, a progress printer) as printf("%s", message).
func Printf(printf func(format string, args ...any)) *slog.Logger {
	return slog.New(printfHandler(printf))
}

type printfHandler func(format string, args ...any)

func (printfHandler) Enabled(context.Context, slog.Level) bool { return true }
func (f printfHandler) Handle(_ context.Context, r slog.Record) error {
	f("%s", r.Message)
	return nil
}
func (f printfHandler) WithAttrs([]slog.Attr) slog.Handler { return f }
func (f printfHandler) WithGroup(string) slog.Handler      { return f }

// levelWord is how a line for a person names its level: info goes
// unnamed.
func levelWord(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "error: "
	case l >= slog.LevelWarn:
		return "warning: "
	case l < slog.LevelInfo:
		return "debug: "
	}
	return ""
}

// text writes a line for a person: the local date and time to the
// second (a log file spans days), the level when it is not info, and the
// message. A line's fields are in
// its message already, in words; the JSON lines carry them apart for
// collectors.
type text struct {
	w     io.Writer
	level slog.Level
	clean func(string) string
	mu    *gosync.Mutex // one line at a time, shared by WithAttrs' copies
}

func (h *text) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *text) Handle(_ context.Context, r slog.Record) error {
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	var b strings.Builder
	b.WriteString(t.Local().Format("2006-01-02 15:04:05 "))
	b.WriteString(levelWord(r.Level))
	b.WriteString(h.clean(r.Message))
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *text) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *text) WithGroup(string) slog.Handler      { return h }
