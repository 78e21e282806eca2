package main

import (
	"cmp"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/murmurnet/murmur/store"
)

// versionInfo is what `murmur version` prints.
type versionInfo struct {
	Version string `json:"version"` // the module's version, "devel" for a build from a checkout
	Commit  string `json:"commit"`  // the commit it was built from, "" if unknown
	Go      string `json:"go"`
	Format  int    `json:"format"` // the data directory's database format (schema version)
}

// version and commit are what the Makefile stamps (-ldflags -X
// main.version=... -X main.commit=...): a release's version, and the
// commit, which Go's build stamps too unless -buildvcs=false (a release's
// build, for it to be reproducible from any checkout).
var version, commit string

// buildVersion reads the version and commit Go's build stamped into the
// binary.
func buildVersion() versionInfo {
	v := versionInfo{Version: cmp.Or(version, "devel"), Commit: commit, Go: runtime.Version(), Format: store.SchemaVersion()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v.Version = bi.Main.Version
	}
	revision, modified := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if revision != "" {
		v.Commit = revision
		if modified {
			v.Commit += "+changes"
		}
	}
	return v
}

func cmdVersion(e *env, args []string) error {
	c := newFlags(e, "version", "[--json]",
		"murmur version\n\n"+
			"Prints this program's version, the commit it was built from, the Go version\n"+
			"that built it and the format of the data directories it writes.")
	if _, err := c.parseArgs(args); err != nil {
		return err
	}
	v := buildVersion()
	return c.output(e, v, func(w io.Writer) {
		commit := v.Commit
		if commit == "" {
			commit = "unknown"
		}
		fmt.Fprintf(w, "murmur %s (commit %s), built with %s; data format %d\n", v.Version, commit, v.Go, v.Format)
	})
}
