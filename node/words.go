package node

import (
	"fmt"
	"strings"
	"time"
)

// aOrAn is the word with its indefinite article: "an alert", "a referral".
func aOrAn(word string) string {
	if word != "" && strings.ContainsRune("aeiouAEIOU", rune(word[0])) {
		return "an " + word
	}
	return "a " + word
}

// anyKind is aOrAn for a value printed with %v (a request or response type).
func anyKind(v any) string { return aOrAn(fmt.Sprint(v)) }

// localMillis is a moment in a message a person reads: local time, with
// the weekday ("Tue 1 Dec 2026 14:05"). --json output keeps RFC 3339
// (formatMillis).
func localMillis(ms uint64) string {
	return millisTime(ms).Local().Format("Mon 2 Jan 2006 15:04")
}

// maxShownMillis is the last millisecond of the year 9999: a time in an
// entry (a deadline, a clock) past it is shown as it, not wrapped round
// into 1969 or a negative year.
const maxShownMillis = 253402300799999

// millisTime is the time of ms milliseconds since 1970 (as entries carry
// times), held at the year 9999.
func millisTime(ms uint64) time.Time { return time.UnixMilli(int64(min(ms, maxShownMillis))) }

// past reports whether the time ms (as entries carry times) has passed,
// compared as the rules compare it (unsigned).
func (n *Node) past(ms uint64) bool { return uint64(max(n.now().UnixMilli(), 0)) > ms }
