package ident

import (
	"fmt"
	"time"
)

// A Refusal is the node declining what a person asked, for a reason with
// a name, its Code. The command line prints its English words (Error);
// the web interface says it in the person's language, from its
// catalogue's message "refusal.CODE" with Args (a Moment is written as
// the language writes dates). Input says it is about what was typed, so
// it matches ErrInput (the command line's exit status 2).
//
// Every code has its English words in one table (DefineRefusals), which
// the web interface's tests hold each catalogue to.
type Refusal struct {
	Code  string
	Args  []any
	Input bool
	Wraps error // what else it matches (errors.Is), if anything
	msg   string
}

func (r *Refusal) Error() string        { return r.msg }
func (r *Refusal) Is(target error) bool { return r.Input && target == ErrInput }
func (r *Refusal) Unwrap() error        { return r.Wraps }

// Moment is a time a refusal names: in English words, said as people say
// it from Now ("today at 14:05", "on Tue 1 Dec 14:05").
type Moment struct{ Time, Now time.Time }

func (m Moment) String() string { return WhenLocal(m.Time, m.Now) }

// WhenLocal is t in local time, as people say it after a verb: "today at
// 14:05", "on Tue 1 Dec 14:05", with the year if it is not now's.
func WhenLocal(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	switch {
	case t.YearDay() == now.YearDay() && t.Year() == now.Year():
		return "today at " + t.Format("15:04")
	case t.Year() == now.Year():
		return "on " + t.Format("Mon 2 Jan 15:04")
	}
	return "on " + t.Format("Mon 2 Jan 2006 15:04")
}

// refusalWords is every refusal's English words: a format for its Args.
var refusalWords = map[string]string{}

// DefineRefusals adds codes and their English words to the table, at a
// package's initialisation; a code defined twice panics then.
func DefineRefusals(words map[string]string) bool {
	for code, format := range words {
		if _, dup := refusalWords[code]; dup {
			panic("refusal " + code + " is defined twice")
		}
		refusalWords[code] = format
	}
	return true
}

// RefusalCodes lists the codes defined, with their English words.
func RefusalCodes() map[string]string {
	out := make(map[string]string, len(refusalWords))
	for code, format := range refusalWords {
		out[code] = format
	}
	return out
}

// Refuse is the refusal code, with args for its words.
func Refuse(code string, args ...any) *Refusal {
	format, ok := refusalWords[code]
	if !ok { // a code without words still says what it can (a test keeps this from happening)
		return &Refusal{Code: code, Args: args, msg: fmt.Sprintf("%s %v", code, args)}
	}
	return &Refusal{Code: code, Args: args, msg: fmt.Sprintf(format, args...)}
}

// RefuseInput is Refuse for what a person typed (it matches ErrInput).
func RefuseInput(code string, args ...any) *Refusal {
	r := Refuse(code, args...)
	r.Input = true
	return r
}
