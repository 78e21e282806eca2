package node

import (
	"errors"
	"unicode/utf8"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/ident"
)

// Refusal is what the node declines, with the reason's code (see
// ident.Refusal): the command line prints its English words, the web
// interface says it in the person's language.
type Refusal = ident.Refusal

// refusals is this package's refusals, in English.
var refusals = ident.DefineRefusals(map[string]string{
	"org-not-admitted":     "%s has not been admitted to the network yet",
	"referral-to-self":     "%s is your own organisation: a referral is addressed to other organisations (--to)",
	"name-long":            "the name is longer than %d characters",
	"name-brackets":        "%q holds what looks like an organisation's ID in brackets, the form Murmur shows to tell organisations apart: a reader could take it for another organisation; choose a name without it",
	"name-of-member":       "%q is the name of another member organisation (%s): a directory entry cannot pass for another organisation",
	"name-in-directory":    "%q is the name another member organisation (%s) goes by in the directory: choose one a reader cannot take for it",
	"title-missing":        "a request needs a title (--title)",
	"title-lines":          "the title must be one line",
	"title-long":           "the title is %d characters long; at most %d of these fit",
	"text-long":            "the text is %d characters long; at most %d of these fit",
	"title-not-text":       "the title is not readable text (it is not UTF-8): retype it",
	"text-not-text":        "the text is not readable text (it is not UTF-8): save it as UTF-8 and try again",
	"own-request":          "this is your organisation's own request: only comments are possible (and signing, on a letter)",
	"referral-elsewhere":   "this referral is addressed to other organisations: it opens to everyone only if they all decline",
	"referral-taken":       "%s has already accepted this referral; it opens again only if they decline",
	"referral-accepted":    "your organisation has already accepted this referral",
	"letter-closed":        "the deadline to sign this letter passed %s: signatures are closed",
	"letter-signed":        "your organisation has already signed this letter",
	"details-not-held":     "the details of request %s are not held here",
	"request-closed":       "request %s is closed",
	"no-pledge":            "your organisation has no pledge on this request to withdraw",
	"pledge-amount":        "a pledge needs an amount (--amount N, and --currency if not the request's %s)",
	"not-author":           "request %s belongs to another organisation: only its author's organisation can close it",
	"closed-already":       "request %s is already closed",
	"not-admitted":         "this organisation is not admitted yet",
	"revoke-not-yours":     "device %s belongs to %s: only its organisation or a steward can revoke it",
	"revoked-already":      "device %s is already revoked, after its entry %d",
	"invite-not-steward":   "only stewards invite organisations: ask one (murmur members shows them) to run murmur invite",
	"invite-no-address":    "no address to give with the invite: give one with --addr, or start the node (murmur run) first",
	"approve-not-steward":  "only stewards approve organisations",
	"admitted-already":     "%s is admitted already",
	"approved-already":     "your organisation has approved %s already; it awaits other stewards",
	"joiner-name-brackets": "%q holds what looks like an organisation's ID in brackets, the form Murmur shows to tell organisations apart: a reader could take it for another; the new one must join under a name without it",
	"joiner-name-taken":    "an organisation called %q is a member already (%s): two names that look the same would be mistaken for each other; the new one must join under another name",
	"grant-not-admitted":   "this organisation is not admitted yet: it cannot record grants",
	"identifiers-many":     "at most %d identifiers per applicant",
	"date-form":            "--date %q is not a date like 2026-11-21",
	"date-future":          "--date %s is in the future: record a grant once it is made",
	"date-early":           "--date %q is too early",
	"not-sealed":           "request %s is not sealed: every member can read it already",
	"sealed-gone":          "request %s was redacted by %s %s: its sealed details are gone, so there is nothing to share",
	"share-unreadable":     "only an organisation that can read a sealed request can share it",
	"all-can-read":         "every organisation named can read request %s already",
	"device-revoked":       "this device was revoked by %s %s: nothing it writes is accepted",
})

// refuse is the refusal code with args for its words.
func refuse(code string, args ...any) *Refusal {
	_ = refusals // defined first
	return ident.Refuse(code, args...)
}

// refuseInput is refuse for what a person typed (it matches ErrInput).
func refuseInput(code string, args ...any) *Refusal {
	_ = refusals
	return ident.RefuseInput(code, args...)
}

// refuseWrapping is refuse for a refusal that also matches err
// (errors.Is).
func refuseWrapping(err error, code string, args ...any) *Refusal {
	r := refuse(code, args...)
	r.Wraps = err
	return r
}

// errRevoked is what a revoked device's refusal matches: a refused write,
// by a revoked device.
var errRevoked = errors.Join(ErrRefused, crdt.ErrRevoked)

// fitting is how many of text's characters fit in limit bytes, the
// network's limits being in bytes: an Arabic or Persian letter takes two,
// so a person is told in characters what fits of what they wrote.
func fitting(text string, limit int) int {
	n := 0
	for i, r := range text {
		if i+utf8.RuneLen(r) > limit {
			break
		}
		n++
	}
	return n
}
