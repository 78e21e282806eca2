//go:build !linux

package netns

import (
	"context"
	"errors"
	"io"
)

var errLinux = errors.New("network namespaces exist only on Linux")

// Options tune Run.
type Options struct {
	Murmur    string
	Dir       string
	Keep      bool
	Seed      uint64
	Satellite Profile
	Logf      func(format string, args ...any)
	Commands  func(format string, args ...any)
}

// Report is the outcome of a scenario.
type Report struct{ Pass bool }

func (r *Report) Print(w io.Writer)      {}
func (r *Report) JSON(w io.Writer) error { return nil }

// Available says why namespaces cannot be made here.
func Available() error { return errLinux }

// Names lists the scenarios.
func Names() []string { return []string{"lan", "lan-private", "exile", "satellite", "restart"} }

// About describes a scenario.
func About(string) string { return "" }

// Run cannot run anything here.
func Run(context.Context, string, Options) (*Report, error) { return nil, errLinux }
