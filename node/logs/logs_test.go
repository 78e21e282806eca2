package logs

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
)

func TestTextIsForAPerson(t *testing.T) {
	var b strings.Builder
	l, err := New(&b, Options{Level: slog.LevelInfo, Clean: strings.ToUpper})
	if err != nil {
		t.Fatal(err)
	}
	l.Debug("not written")
	l.Info("synced with x", "peer", "12D3")
	l.Warn("sync failed", "err", errors.New("boom"))
	l.Error("broken")
	at := `\d{4}-\d\d-\d\d \d\d:\d\d:\d\d `
	want := regexp.MustCompile(`^` + at + `SYNCED WITH X\n` + at + `warning: SYNC FAILED\n` + at + `error: BROKEN\n$`)
	if !want.MatchString(b.String()) {
		t.Errorf("text lines:\n%s", b.String())
	}
}

func TestJSONIsForACollector(t *testing.T) {
	var b strings.Builder
	l, err := New(&b, Options{Format: "json", Level: slog.LevelDebug, Clean: func(s string) string { return strings.TrimPrefix(s, "store: ") }})
	if err != nil {
		t.Fatal(err)
	}
	l.Debug("store: synced", "peer", "12D3", "rounds", 3, "err", errors.New("store: boom"))
	var line map[string]any
	if err := json.Unmarshal([]byte(b.String()), &line); err != nil {
		t.Fatalf("%q: %v", b.String(), err)
	}
	if line["level"] != "DEBUG" || line["msg"] != "synced" || line["peer"] != "12D3" || line["rounds"] != 3.0 || line["err"] != "boom" || line["time"] == nil {
		t.Errorf("JSON line: %v", line)
	}
}

func TestLevelsAndFormatsAreChecked(t *testing.T) {
	for s, want := range map[string]slog.Level{"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "": slog.LevelInfo, "warn": slog.LevelWarn, "warning": slog.LevelWarn, "error": slog.LevelError} {
		if got, err := ParseLevel(s); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Error("ParseLevel(loud) took it")
	}
	if _, err := New(&strings.Builder{}, Options{Format: "JSON"}); err != nil {
		t.Errorf("format JSON: %v", err)
	}
	if _, err := New(&strings.Builder{}, Options{Format: "xml"}); err == nil {
		t.Error("format xml taken")
	}
}

func TestPrintfGetsEveryLevel(t *testing.T) {
	var got []string
	l := Printf(func(f string, a ...any) { got = append(got, fmt.Sprintf(f, a...)) })
	l.Debug("d")
	l.Info("i")
	l.Warn("w")
	if strings.Join(got, "|") != "d|i|w" {
		t.Errorf("%q", got)
	}
	Or(nil).Info("nothing") // (discarded, no panic)
}
