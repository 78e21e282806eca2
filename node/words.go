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
	return time.UnixMilli(int64(ms)).Local().Format("Mon 2 Jan 2006 15:04")
}
