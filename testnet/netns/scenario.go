//go:build linux

package netns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/murmurnet/murmur/testnet"
)

// Options tune Run.
type Options struct {
	// Murmur is the murmur binary; empty: Run builds ./cmd/murmur of the
	// module the working directory is in (CGO_ENABLED=0).
	Murmur string
	// Dir holds data directories and node logs; empty: a temporary
	// directory, removed after a PASS unless Keep is set.
	Dir  string
	Keep bool
	Seed uint64
	// Satellite replaces the satellite scenario's link (each way) if its
	// Rate is set: to compare profiles, as the table does.
	Satellite Profile
	// Logf receives progress lines; nil: none. Commands reaches the
	// commands run to build the namespaces, if set.
	Logf     func(format string, args ...any)
	Commands func(format string, args ...any)
}

// Report is the outcome of a scenario.
type Report struct {
	Scenario string   `json:"scenario"`
	Link     string   `json:"link"`
	Topology string   `json:"topology"`
	Steps    []Step   `json:"steps"`
	Numbers  []string `json:"numbers,omitempty"`
	Notes    []string `json:"notes,omitempty"`
	Dir      string   `json:"dir,omitempty"` // where the logs are, if kept
	Pass     bool     `json:"pass"`
	Verdict  string   `json:"verdict"`
}

// Step is one thing a scenario did, and how it went.
type Step struct {
	What   string  `json:"what"`
	Millis float64 `json:"took_ms"`
	OK     bool    `json:"ok"`
	Note   string  `json:"note,omitempty"`
}

// Print writes the report for people; its last line is PASS or FAIL.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "scenario: %s\n", r.Scenario)
	fmt.Fprintf(w, "link: %s\n", r.Link)
	fmt.Fprintf(w, "topology: %s\n", r.Topology)
	for i, s := range r.Steps {
		mark := "ok  "
		if !s.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %2d %s %-70s %7.1f s", i+1, mark, s.What, s.Millis/1000)
		if s.Note != "" {
			fmt.Fprintf(w, "  %s", s.Note)
		}
		fmt.Fprintln(w)
	}
	for _, n := range r.Numbers {
		fmt.Fprintf(w, "  %s\n", n)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if r.Dir != "" {
		fmt.Fprintf(w, "data directories and node logs: %s\n", r.Dir)
	}
	fmt.Fprintf(w, "%s\n", r.Verdict)
	if r.Pass {
		fmt.Fprintln(w, "PASS")
	} else {
		fmt.Fprintln(w, "FAIL")
	}
}

// JSON writes the report as one JSON value.
func (r *Report) JSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// run is one scenario being played.
type run struct {
	ctx context.Context
	rep *Report
	lab *Lab
	h   *harness
	opt Options
	err error // the first failed step's
}

// step runs fn as a named step, unless one failed before; fn's note (if
// any) goes beside it.
func (r *run) step(what string, fn func() (string, error)) {
	if r.err != nil {
		return
	}
	r.opt.Logf("%s: %s", r.rep.Scenario, what)
	t0 := time.Now()
	note, err := fn()
	s := Step{What: what, Millis: float64(time.Since(t0).Microseconds()) / 1000, OK: err == nil, Note: note}
	if err != nil {
		s.Note = strings.TrimSpace(note + " " + err.Error())
		r.err = fmt.Errorf("%s: %w", what, err)
	}
	r.rep.Steps = append(r.rep.Steps, s)
}

// scenarios are the scenarios by name, in the order Names lists them.
var scenarios = map[string]struct {
	about string
	play  func(r *run)
}{
	"lan":           {"three offices on one LAN, no route elsewhere, meet by mDNS; a fourth joins by invite with no reachable address", playLAN},
	"lan-private":   {"the same on a private network (a pre-shared key): the fourth finds the inviter's door for its invite by mDNS", playLANPrivate},
	"exile":         {"two offices behind NAT and a reachable exile relay; restarts without --peer; the exile cut off", playExile},
	"satellite":     {"a day's work (500 entries from 20 organisations) over 32 kbit/s, 800 ms round trip, 10% loss", playSatellite},
	"restart":       {"three routed offices restart, one at a time then all at once, without --peer", playRestart},
	"satellite-tcp": {"the same day's work over TCP alone, through tc tbf at 32 kbit/s", playSatelliteTCP},
}

// Names lists the scenarios Run knows.
func Names() []string {
	return []string{"lan", "lan-private", "exile", "satellite", "restart", "satellite-tcp"}
}

// About describes a scenario in one line.
func About(name string) string { return scenarios[name].about }

// Run plays the named scenario in network namespaces it makes and
// removes, with real murmur processes, and reports. The report's Pass is
// the verdict; an error is returned only for an unknown scenario.
func Run(ctx context.Context, name string, opt Options) (*Report, error) {
	sc, ok := scenarios[name]
	if !ok {
		return nil, fmt.Errorf("no scenario %q: the scenarios are %s", name, strings.Join(Names(), ", "))
	}
	if opt.Logf == nil {
		opt.Logf = func(string, ...any) {}
	}
	if opt.Seed == 0 {
		opt.Seed = 1
	}
	r := &run{ctx: ctx, rep: &Report{Scenario: name}, opt: opt}
	r.play(sc.play)
	return r.rep, nil
}

func (r *run) play(play func(*run)) {
	rep := r.rep
	ownDir := r.opt.Dir == ""
	defer func() {
		if r.err != nil {
			rep.Pass, rep.Verdict = false, "failed at "+r.err.Error()
		} else {
			rep.Pass = true
			if rep.Verdict == "" {
				rep.Verdict = "every check held"
			}
		}
		if !ownDir || r.opt.Keep || !rep.Pass {
			rep.Dir = r.opt.Dir
		} else if r.opt.Dir != "" {
			os.RemoveAll(r.opt.Dir)
		}
	}()
	if ownDir {
		d, err := os.MkdirTemp("", "murmur-netns-"+rep.Scenario+"-")
		if err != nil {
			r.err = err
			return
		}
		r.opt.Dir = d
	}
	r.step("build the murmur binary and make the namespaces' lab", func() (string, error) {
		if r.opt.Murmur == "" {
			r.opt.Murmur = filepath.Join(r.opt.Dir, "murmur")
			if err := testnet.BuildMurmur(r.ctx, r.opt.Murmur); err != nil {
				return "", err
			}
		}
		lab, err := NewLab(r.ctx, r.opt.Commands)
		if err != nil {
			return "", err
		}
		r.lab = lab
		r.h = &harness{bin: r.opt.Murmur, dir: r.opt.Dir, lab: lab, logf: r.opt.Logf}
		return "", nil
	})
	defer func() {
		if r.lab == nil {
			return
		}
		err := errors.Join(r.h.close(), r.lab.Close())
		if err != nil {
			rep.Notes = append(rep.Notes, "tearing down: "+err.Error())
		}
	}()
	if r.err == nil {
		play(r)
	}
}
