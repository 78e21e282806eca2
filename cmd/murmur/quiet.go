package main

import (
	"log/slog"
	"os"

	"github.com/libp2p/go-libp2p/gologshim"
)

// go-libp2p logs its own errors on stderr (a failed listen came as three
// lines of its log before murmur's own line). What a person needs is said
// by murmur in one line; libp2p's log is for debugging, and is shown only
// when GOLOG_LOG_LEVEL asks for it.
func init() {
	if os.Getenv("GOLOG_LOG_LEVEL") == "" {
		gologshim.SetDefaultHandler(slog.DiscardHandler)
	}
}
