package main

import (
	"regexp"
	"strings"
)

// internalPrefix matches what a Go package puts before its errors ("crdt:
// ", "store: ", "store: append: ") and the sentinel phrases that name a
// program's internals rather than what is wrong.
var internalPrefix = regexp.MustCompile(`(^|: |\()(?:(?:crdt|store|sync|node|murmur|gossip|pubsub|libp2p): )+(?:(?:put|append|get|scan|counts|get meta|set meta|record contact|contacts|close|gossip|publish): )?`)

// plainError is an error as a person reads it: one line, without package
// prefixes. Errors are worded for people where they are made; this is the
// net under them, for an error wrapped by a layer that still names itself.
func plainError(err error) string { return plainText(err.Error()) }

// plainText is plainError for a line of text (a log line).
func plainText(s string) string {
	s = oneLine(s)
	for range 8 { // prefixes nest: "store: append: store: entry already stored"
		t := internalPrefix.ReplaceAllString(s, "$1")
		if t == s {
			break
		}
		s = t
	}
	s = strings.ReplaceAll(s, "invalid entry: ", "")
	return s
}
