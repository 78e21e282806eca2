package node

import (
	"testing"
	"time"
)

// A date typed as a deadline is the end of that day where the person
// typing it is.
func TestDeadlineDateIsLocal(t *testing.T) {
	kathmandu := time.FixedZone("NPT", 5*3600+45*60)
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, kathmandu)
	got, err := parseDeadline("2026-12-01", now)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 12, 1, 23, 59, 59, int(999*time.Millisecond), kathmandu); !got.Equal(want) {
		t.Errorf("2026-12-01 typed in Kathmandu: %v, want %v", got, want)
	}
	// The same date typed just after midnight there is still today.
	if _, err := parseDeadline("2026-12-01", time.Date(2026, 12, 1, 0, 5, 0, 0, kathmandu)); err != nil {
		t.Errorf("today, just after midnight: %v", err)
	}
	if _, err := parseDeadline("2026-11-30", now); err == nil {
		t.Error("yesterday accepted as a deadline")
	}
	if got := aOrAn("alert") + ", " + aOrAn("referral") + ", " + anyKind("unknown"); got != "an alert, a referral, an unknown" {
		t.Errorf("articles: %q", got)
	}
}
