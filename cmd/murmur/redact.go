package main

import "github.com/murmurnet/murmur/node"

// shownTitle is a request's title as text output shows it: for a redacted
// request, who redacted it, when (local time) and why.
func shownTitle(s node.RequestSummary) string {
	if s.Redacted != nil {
		return s.Redacted.String()
	}
	return s.Title
}

// shownText is an answer's text as text output shows it: for a redacted
// answer, who redacted it, when and why. Its type still counts.
func shownText(body string, r *node.RedactionInfo) string {
	if r != nil {
		return r.String()
	}
	return body
}
