package node

import (
	"fmt"

	"github.com/murmurnet/murmur/node/ident"
)

// ErrInput matches (errors.Is) every error about what a person typed — a
// command-line mistake, exit status 2 — as opposed to an operation that
// failed. It is ident.ErrInput, so the vocabulary's errors match it too.
var ErrInput = ident.ErrInput

type inputError struct {
	msg string
	err error // what it wraps, if anything
}

func (e inputError) Error() string        { return e.msg }
func (e inputError) Is(target error) bool { return target == ErrInput }
func (e inputError) Unwrap() error        { return e.err }

func inputErr(format string, args ...any) error {
	return inputError{msg: fmt.Sprintf(format, args...)}
}
