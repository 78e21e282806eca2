package node

import (
	"fmt"
	"strings"
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
