// Command murmur runs and drives a Murmur node: an offline-first,
// peer-to-peer coordination log for networks of organisations that protect
// human-rights defenders. Every command works with no network at all.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"golang.org/x/term"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"unicode"
)

// command is one subcommand ("status", "request new").
type command struct {
	name, summary string
	run           func(e *env, args []string) error
}

var commands = []command{
	{"init", "found a new network, with this device as its first organisation's first device", cmdInit},
	{"run", "run the node: connect to members (those given with --peer, those reached before, those that announce an address), send and receive entries, until Ctrl-C", cmdRun},
	{"ui", "open the web interface in the browser, starting the node if needed", cmdUI},
	{"status", "this node and its state, and when each member organisation was last reached", cmdStatus},
	{"members", "organisations, stewards, devices and revocations", cmdMembers},
	{"invite", "an invite code for another organisation (stewards)", cmdInvite},
	{"join", "set this machine up to join a network with an invite code", cmdJoin},
	{"approve", "a steward's approval of an organisation awaiting admission", cmdApprove},
	{"steward add", "a steward's approval that a member organisation becomes a steward", cmdStewardAdd},
	{"steward remove", "a steward's approval that an organisation stops being a steward", cmdStewardRemove},
	{"steward list", "the stewards, the quorum, and what awaits their approval", cmdStewardList},
	{"quorum set", "a steward's approval of a new quorum (stewards needed to approve a change)", cmdQuorumSet},
	{"device invite", "an invite code for another device of this organisation", cmdDeviceInvite},
	{"device revoke", "revoke a device: its later entries are refused everywhere (shows what it cuts off, asks first)", cmdDeviceRevoke},
	{"directory set", "publish this organisation's directory entry", cmdDirectorySet},
	{"directory list", "the member directory, filtered", cmdDirectoryList},
	{"request new", "open a request: verification, referral, funding, letter or alert", cmdRequestNew},
	{"request list", "requests; --inbox for those awaiting this organisation's answer", cmdRequestList},
	{"request show", "one request with its responses", cmdRequestShow},
	{"request suggest", "members whose directory entries fit a referral, best first, with why", cmdRequestSuggest},
	{"request signatories", "the organisations that signed a letter, ready to publish", cmdRequestSignatories},
	{"request share", "give more organisations access to a sealed request", cmdRequestShare},
	{"request close", "close one of this organisation's requests", cmdRequestClose},
	{"respond", "answer a request", cmdRespond},
	{"alert ack", "acknowledge an alert for this organisation: status lists it after those not yet acknowledged", cmdAlertAck},
	{"redact", "take back the words of one of your organisation's entries on every node; its counts stay (asks first)", cmdRedact},
	{"grant record", "record a grant made, the applicant's identifiers blinded", cmdGrantRecord},
	{"grant check", "has any member recorded a grant to this applicant? Works offline; tells no one", cmdGrantCheck},
	{"wipe", "destroy this node's keys and data beyond recovery; --revoke first tells reachable members", cmdWipe},
	{"stats", "response times: share answered before the deadline, median time to first answer", cmdStats},
	{"doctor", "check this data directory and say, in plain words, what is wrong and what to do", cmdDoctor},
	{"repair", "rebuild a damaged database from what still verifies; members' nodes send the rest", cmdRepair},
	{"backup", "write one file with this device's keys and entries, sealed under the passphrase", cmdBackup},
	{"restore", "bring a backup back into an empty data directory, on this machine or another", cmdRestore},
	{"bundle summary", "write what this node holds, for a member to export exactly what it lacks", cmdBundleSummary},
	{"bundle export", "write entries to a sealed file to carry where no link goes (USB stick, e-mail, messenger)", cmdBundleExport},
	{"bundle import", "take in bundle files, with the same checks as the network", cmdBundleImport},
	{"version", "this program's version, commit, Go version and data format", cmdVersion},
	{"help", "list the commands, or explain one", nil},
}

// Soft memory limits, unless GOMEMLIMIT sets one: the garbage collector
// then works harder before a process outgrows them, rather than letting
// the heap double what is live (a node that reloads its waiting pool as
// other processes write, say, grew to 250 MB for 70 MB live). A process
// that needs more still gets it.
const (
	runMemoryLimit     = 128 << 20 // `murmur run` (issue 14: at most 150 MB)
	commandMemoryLimit = 64 << 20  // every other command
)

// memoryLimit is the soft limit for the command args runs, if it sets
// one.
func memoryLimit(args []string, getenv func(string) string) (int64, bool) {
	if getenv("GOMEMLIMIT") != "" {
		return 0, false
	}
	if len(args) > 0 && (args[0] == "run" || args[0] == "ui") { // (ui runs the node when none runs)
		return runMemoryLimit, true
	}
	return commandMemoryLimit, true
}

func main() {
	if limit, ok := memoryLimit(os.Args[1:], os.Getenv); ok {
		debug.SetMemoryLimit(limit)
	}
	// SIGHUP from a terminal is the terminal closing (its window, an SSH
	// session): the command stops, as with Ctrl-C, rather than going on
	// unseen. Elsewhere (a service: systemctl reload) it reloads nothing:
	// the node reads its settings when it starts. It is said, not taken
	// for a stop.
	stopOn := []os.Signal{os.Interrupt, syscall.SIGTERM}
	hangupStops := onTerminal(os.Getenv)
	if hangupStops {
		stopOn = append(stopOn, syscall.SIGHUP)
	}
	ctx, stop := signal.NotifyContext(context.Background(), stopOn...)
	hup := make(chan os.Signal, 1)
	if !hangupStops {
		signal.Notify(hup, syscall.SIGHUP)
	}
	go func() {
		for range hup {
			const said = "SIGHUP: nothing to reload (Murmur reads its settings when it starts); it goes on"
			if l := runLog.Load(); l != nil {
				l.Info(said)
			} else {
				fmt.Fprintln(os.Stderr, said)
			}
		}
	}()
	code := run(&env{ctx: ctx, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}, os.Args[1:])
	stop()
	os.Exit(code)
}

// onTerminal reports whether this process was started from a terminal,
// not by a service manager (systemd sets INVOCATION_ID for its services).
func onTerminal(getenv func(string) string) bool {
	if getenv("INVOCATION_ID") != "" {
		return false
	}
	for _, f := range []*os.File{os.Stdin, os.Stdout, os.Stderr} {
		if term.IsTerminal(int(f.Fd())) {
			return true
		}
	}
	return false
}

// run executes one command line and returns the exit status.
func run(e *env, args []string) int {
	if len(args) == 0 {
		// A script that forgot its command must not carry on as if
		// something had been done.
		fmt.Fprintln(e.stderr, "murmur: no command given (murmur help lists the commands; murmur init --org NAME founds a network)")
		return 2
	}
	cmd, rest := find(args)
	if cmd == nil || cmd.name == "help" {
		asJSON := false
		if cmd != nil {
			rest = slices.DeleteFunc(slices.Clone(rest), func(a string) bool {
				if a == "--json" || a == "-json" {
					asJSON = true
					return true
				}
				return false
			})
		}
		if cmd != nil && len(rest) > 0 { // murmur help COMMAND
			if c, _ := find(rest); c != nil && c.run != nil {
				if asJSON {
					return helpJSON(e, c)
				}
				return exitCode(c.run(e, []string{"--help"}))
			}
			if sub := subcommands(rest[0]); len(sub) > 0 && len(rest) == 1 { // murmur help bundle
				fmt.Fprintf(e.stdout, "murmur %s: say which:\n", rest[0])
				for _, c := range commands {
					if slices.Contains(sub, c.name) {
						fmt.Fprintf(e.stdout, "  %-16s %s\n", c.name, c.summary)
					}
				}
				fmt.Fprintf(e.stdout, "\nmurmur help %s explains one.\n", sub[0])
				return 0
			}
			fmt.Fprintf(e.stderr, "murmur help: unknown command %q (see murmur help)\n", strings.Join(rest, " "))
			return 2
		}
		if cmd == nil && args[0] != "--help" && args[0] != "-h" {
			// An error is one line on stderr and nothing on stdout, where a
			// script may be reading JSON.
			if sub := subcommands(args[0]); len(sub) > 0 { // murmur steward
				if len(args) > 1 && !strings.HasPrefix(args[1], "-") { // murmur bundle foo
					fmt.Fprintf(e.stderr, "murmur: unknown command %q: say which: %s (murmur %s --help explains one)\n", args[0]+" "+args[1], strings.Join(sub, ", "), sub[0])
					return 2
				}
				fmt.Fprintf(e.stderr, "murmur %s: say which: %s (murmur %s --help explains one)\n", args[0], strings.Join(sub, ", "), sub[0])
				return 2
			}
			fmt.Fprintf(e.stderr, "murmur: unknown command %q (see murmur help)\n", strings.Join(args, " "))
			return 2
		}
		if asJSON {
			return helpJSON(e, nil)
		}
		help(e.stdout)
		return 0
	}
	err := cmd.run(e, rest)
	var said loggedError
	if err != nil && !errors.Is(err, flag.ErrHelp) && !errors.As(err, &said) {
		fmt.Fprintf(e.stderr, "murmur %s: %s\n", cmd.name, e.errorLine(err))
	}
	return exitCode(err)
}

// commandJSON is one command as `murmur help --json` lists it.
type commandJSON struct {
	Name    string `json:"name"`
	Summary string `json:"summary"`
	Usage   string `json:"usage,omitempty"` // `murmur help COMMAND --json` only
}

// helpJSON prints the commands (c nil), or one command with its usage, as
// one JSON value.
func helpJSON(e *env, c *command) int {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	if c == nil {
		out := struct {
			Commands []commandJSON `json:"commands"`
		}{}
		for _, c := range commands {
			out.Commands = append(out.Commands, commandJSON{Name: c.name, Summary: c.summary})
		}
		if enc.Encode(out) != nil {
			return 1
		}
		return 0
	}
	var usage strings.Builder
	sub := *e
	sub.stdout = &usage
	if err := c.run(&sub, []string{"--help"}); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(e.stderr, "murmur help %s: %s\n", c.name, oneLine(err.Error()))
		return 1
	}
	if enc.Encode(commandJSON{Name: c.name, Summary: c.summary, Usage: usage.String()}) != nil {
		return 1
	}
	return 0
}

// find matches the longest command name at the start of args.
func find(args []string) (*command, []string) {
	for words := 2; words >= 1; words-- {
		if len(args) < words {
			continue
		}
		name := strings.Join(args[:words], " ")
		for i := range commands {
			if commands[i].name == name {
				return &commands[i], args[words:]
			}
		}
	}
	return nil, args
}

// subcommands are the commands of two words whose first is word
// ("steward" → "steward add", "steward remove", "steward list").
func subcommands(word string) []string {
	var out []string
	for _, c := range commands {
		if first, _, two := strings.Cut(c.name, " "); two && first == word {
			out = append(out, c.name)
		}
	}
	return out
}

func oneLine(s string) string {
	// (and no control character a terminal would act on: a path can hold
	// an escape sequence)
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, strings.Join(strings.Fields(s), " "))
}

func help(w io.Writer) {
	fmt.Fprintf(w, "murmur — coordination for human-rights protection networks, offline first\n\nusage: murmur COMMAND [flags]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-16s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nEvery command takes --dir DIR (default $MURMUR_DIR, else the user data directory)\nand --json. `murmur COMMAND --help` explains a command's flags, with an example.\n")
	fmt.Fprintf(w, "\nexample:\n  murmur init --org \"Defenders Fund\"\n  murmur request new --kind verification --title \"Does anyone know this applicant?\" --json\n")
}
