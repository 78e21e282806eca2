package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// isTerminal reports whether r is a terminal a person types at (tests
// replace it).
var isTerminal = func(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// notConfirmed: the person answered no at the prompt.
type notConfirmed struct{ nothing string }

func (e notConfirmed) Error() string { return "not confirmed: nothing was " + e.nothing }

// confirm asks a person before a step that cannot be undone. details say
// what it will do (on stderr, with question and [y/N]); yes is --yes. With
// --json, or when stdin is not a terminal, nobody can be asked: it needs
// --yes, and without it the command stops before anything is written (exit
// 2). A person who answers anything but y or yes stops it too (exit 1).
// done names the step in the past tense for those lines: "revoked".
func confirm(e *env, c *cmdFlags, yes bool, details []string, question, done string) error {
	if yes {
		return nil
	}
	if c.json || !isTerminal(e.stdin) {
		return usagef("add --yes to confirm: this cannot be undone, and with --json or without a terminal nobody can be asked (nothing was %s)", done)
	}
	for _, l := range details {
		fmt.Fprintln(e.stderr, l)
	}
	fmt.Fprintf(e.stderr, "%s [y/N] ", question)
	line, _ := bufio.NewReader(e.stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return notConfirmed{done}
}
