package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"
	"unicode"

	"golang.org/x/term"

	"github.com/murmurnet/murmur/node"
)

// usageError is a command-line mistake: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitCode maps an error to the contract's exit status.
// loggedError is an error a command has already written through its
// logger (murmur run --log-format json: a collector reads every line of
// standard error as JSON); main does not print it again.
type loggedError struct{ err error }

func (e loggedError) Error() string { return e.err.Error() }
func (e loggedError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var u usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &u), errors.Is(err, node.ErrInput):
		return 2
	}
	return 1
}

// env is what every command gets: its streams and environment.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// onUI, if set, is called with the web interface's address once
	// murmur run serves it (murmur ui opens the browser there).
	onUI func(url string)
	// given, once a passphrase was given for a service (passphraseGiven),
	// says how, for the error if it is the wrong one.
	given *given
	// dir is the --dir the command was given: the commands its output
	// suggests get it too (withDir).
	dir string
	// log, once murmur run has its log, takes the notices a command gives
	// on the way (notice), in the log's format.
	log *slog.Logger
}

// notice tells the person running the command something on the way: on
// standard error, or in murmur run's log.
func (e *env) notice(level slog.Level, msg string) {
	if e.log != nil {
		e.log.Log(context.Background(), level, msg)
		return
	}
	if level >= slog.LevelWarn {
		msg = "Warning: " + msg
	}
	fmt.Fprintln(e.stderr, msg)
}

// errorLine is the line that says why a command failed.
func (e *env) errorLine(err error) string {
	msg := plainError(err)
	if errors.Is(err, node.ErrWrongPassphrase) && e.given != nil {
		msg += ": " + e.given.String() // (which one: a service has no prompt to retry at)
	}
	return e.withDir(msg)
}

// withDir is text with every murmur command it suggests `in quotes like
// these` given the --dir this command was given: the next command must
// open the same data directory, not the default one.
func (e *env) withDir(text string) string {
	if e.dir == "" {
		return text
	}
	var b strings.Builder
	for {
		i := strings.Index(text, "`murmur ")
		if i < 0 {
			break
		}
		j := strings.IndexByte(text[i+1:], '`')
		if j < 0 {
			break
		}
		span := text[i : i+1+j] // (without the closing quote)
		b.WriteString(text[:i])
		b.WriteString(span)
		if !strings.Contains(span, "--dir") {
			b.WriteString(dirFlag(e.dir))
		}
		b.WriteByte('`')
		text = text[i+2+j:]
	}
	b.WriteString(text)
	return b.String()
}

// cmdFlags are the flags every command has.
type cmdFlags struct {
	// more, for a command that shows one page, says how to see the next:
	// after the list, or with --json on stderr when that is a terminal
	// (stdout keeps the array).
	more string
	*flag.FlagSet
	dir   string
	json  bool
	usage func() // prints the usage on stdout, for --help
	// anyOwner lets root use a data directory another user owns (murmur
	// wipe: removing it leaves nothing behind to be locked out of).
	anyOwner bool
}

func newFlags(e *env, name, usage, example string) *cmdFlags {
	c := newNodeFlags(e, name, usage, example)
	c.BoolVar(&c.json, "json", false, "print exactly one JSON value on stdout")
	return c
}

// newNodeFlags is newFlags without --json, for the commands that keep a
// node running (run, ui): they print no one value, and a log collector
// takes their lines as JSON with --log-format json.
func newNodeFlags(e *env, name, usage, example string) *cmdFlags {
	fs := flag.NewFlagSet("murmur "+name, flag.ContinueOnError)
	c := &cmdFlags{FlagSet: fs}
	fs.StringVar(&c.dir, "dir", "", "data directory (default: $MURMUR_DIR, else the platform's user data directory)")
	fs.SetOutput(io.Discard)
	// The flag package calls Usage on every parse error too; an error is
	// one line on stderr (see parse), so only --help prints the usage.
	fs.Usage = func() {}
	c.usage = func() {
		fmt.Fprintf(e.stdout, "usage: murmur %s %s\n\n", name, usage)
		fmt.Fprintf(e.stdout, "flags:\n")
		fs.SetOutput(e.stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		if example != "" {
			fmt.Fprintf(e.stdout, "\nexample:\n  %s\n", example)
		}
	}
	return c
}

// parse reads flags wherever they appear among the arguments (Go's flag
// package stops at the first positional argument) and returns the
// positional ones. "--" ends the flags.
func (c *cmdFlags) parse(args []string) ([]string, error) {
	var tail []string
	for i, a := range args {
		if a == "--" {
			args, tail = args[:i], args[i+1:]
			break
		}
	}
	var pos []string
	for {
		if err := c.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.usage()
				return nil, err
			}
			return nil, usagef("%v (see murmur %s --help)", err, strings.TrimPrefix(c.Name(), "murmur "))
		}
		rest := c.Args()
		if len(rest) == 0 {
			return append(pos, tail...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// parseArgs parses the command line and checks that it holds exactly the
// named positional arguments, which it returns.
func (c *cmdFlags) parseArgs(args []string, names ...string) ([]string, error) {
	pos, err := c.parse(args)
	if err != nil {
		return nil, err
	}
	if len(pos) != len(names) {
		if len(names) == 0 {
			return nil, usagef("murmur %s takes no arguments besides flags, not %q (see --help)", strings.TrimPrefix(c.Name(), "murmur "), strings.Join(pos, " "))
		}
		return nil, usagef("murmur %s takes %s (see --help)", strings.TrimPrefix(c.Name(), "murmur "), strings.Join(names, " "))
	}
	return pos, nil
}

func (c *cmdFlags) dataDir(e *env) (string, error) {
	dir := c.dir
	e.dir = c.dir
	if dir == "" {
		dir = e.getenv("MURMUR_DIR")
	}
	if dir == "" {
		var err error
		if dir, err = node.DefaultDir(); err != nil {
			return "", err
		}
	}
	asOwner := func(owner string) string { // (the command to run instead)
		return "sudo -u " + owner + " " + c.Name() + " …" + dirFlag(dir)
	}
	if owner := notOwnersDir(dir); owner != "" && !c.anyOwner {
		return "", usagef("%s belongs to the user %s, and this command runs as root: what it wrote there would be root's, and %s's node could no longer open it. Run it as that user: %s", dir, owner, owner, asOwner(owner))
	}
	if f, err := os.Open(dir); errors.Is(err, fs.ErrPermission) {
		// (not "no node here": that would say to found another network)
		why := ""
		if owner, _ := dirOwner(dir); owner != "" {
			why = fmt.Sprintf(": it belongs to the user %s; run the command as that user (%s)", owner, asOwner(owner))
		}
		return "", fmt.Errorf("cannot read the data directory %s (permission denied)%s", dir, why)
	} else if err == nil {
		f.Close()
	}
	return dir, nil
}

// command is how this command's output names another it suggests:
// "murmur run", with --dir when this one was given --dir (the next must
// open the same data directory).
func (c *cmdFlags) command(name string) string {
	return "murmur " + name + dirFlag(c.dir)
}

// dirFlag is " --dir DIR", as a shell reads it back; "" for no dir.
func dirFlag(dir string) string {
	if dir == "" {
		return ""
	}
	return " --dir " + shellWord(dir)
}

// shellWord is s as one word a shell reads back as s.
func shellWord(s string) string {
	safe := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+,:@%=", r) || r > 0x7f && unicode.IsLetter(r))
	}) < 0
	switch {
	case safe:
		return s
	case runtime.GOOS == "windows":
		return `"` + s + `"`
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		// $'…', which reads \xNN back as that byte (bash, zsh, POSIX
		// since 2024; not an older dash): a line break or an escape in a
		// path, written as it is, would break the line or act on the
		// terminal.
		var b strings.Builder
		b.WriteString("$'")
		for _, r := range s {
			switch {
			case r == '\\' || r == '\'':
				b.WriteString(`\` + string(r))
			case unicode.IsControl(r):
				for _, c := range []byte(string(r)) {
					fmt.Fprintf(&b, `\x%02x`, c)
				}
			default:
				b.WriteRune(r)
			}
		}
		b.WriteString("'")
		return b.String()
	default:
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
}

// open opens the node in the data directory and unlocks its keys: every
// command that opens a data directory protected by a passphrase asks for it
// (or reads MURMUR_PASSPHRASE), and a wrong one is refused before anything
// is read or written. Sealed details this organisation may read are then
// readable, and entries can be signed.
func (c *cmdFlags) open(e *env) (*node.Node, error) {
	dir, err := c.dataDir(e)
	if err != nil {
		return nil, err
	}
	// The database is sealed under the device key: the passphrase opens
	// both. After an upgrade of murmur the first open may rearrange the
	// database once (a long history takes a minute): say so if it takes
	// a while, so that it does not look hung.
	said := make(chan struct{})
	slow := time.AfterFunc(openSlowAfter, func() {
		defer close(said)
		e.notice(slog.LevelInfo, "Opening is taking a while: a long history, a busy computer, or, once after an upgrade of murmur, the database brought up to date (up to a minute).")
	})
	ask := passphraseFrom(e, "Passphrase for "+dir)
	n, err := openWith(e.ctx, dir, func() ([]byte, error) {
		if slow.Stop() { // (the time spent typing is not the open's)
			defer slow.Reset(openSlowAfter)
		}
		return ask()
	})
	if !slow.Stop() {
		<-said // (it said so: done writing before the command writes)
	}
	if err != nil && errors.Is(err, context.Canceled) {
		return nil, errors.New("stopped before the database was open: nothing was changed, and the next command takes up where this one stopped")
	}
	return n, err
}

// openSlowAfter is how long an open may take before the command says why.
var openSlowAfter = 3 * time.Second

// openWith opens a node (a test makes it slow).
var openWith = node.OpenWith

// passphraseFrom takes the passphrase given for a service
// (passphraseGiven), or asks on the terminal.
func passphraseFrom(e *env, prompt string) node.PassphraseSource {
	return func() ([]byte, error) {
		if p, ok, err := passphraseGiven(e); ok || err != nil {
			return p, err
		}
		f, ok := e.stdin.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			if dir := e.getenv("CREDENTIALS_DIRECTORY"); dir != "" { // (a service)
				return nil, noCredential{dir}
			}
			return nil, node.ErrNeedPassphrase
		}
		fd := int(f.Fd())
		state, err := term.GetState(fd)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(e.stderr, "%s: ", prompt)
		p, err := interruptible(e.ctx, func() ([]byte, error) { return term.ReadPassword(fd) })
		if errors.Is(err, errStoppedAtPassphrase) {
			term.Restore(fd, state) // (echo back on: the read is left behind)
		}
		fmt.Fprintln(e.stderr)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
}

// noCredential is a service given credentials, but not the passphrase's.
type noCredential struct{ dir string }

func (n noCredential) Error() string {
	return fmt.Sprintf("no passphrase: the service's credentials (%s) hold none named %s; its unit needs LoadCredential=%s:/etc/murmur/passphrase (see contrib/murmur.service)", n.dir, credentialName, credentialName)
}

func (noCredential) Unwrap() error { return node.ErrNeedPassphrase }

// errStoppedAtPassphrase is a command stopped (Ctrl-C, SIGTERM) while it
// waited for its passphrase.
var errStoppedAtPassphrase = errors.New("stopped while waiting for the passphrase: nothing was changed")

// interruptible returns what read returns, or errStoppedAtPassphrase as
// soon as the command is stopped: a passphrase source can block for ever
// (a person who walked away from the prompt, a pipe or a FIFO no one
// writes to), and Ctrl-C, SIGTERM or a service manager's stop must still
// end the command. A read left behind ends with the process.
func interruptible(ctx context.Context, read func() ([]byte, error)) ([]byte, error) {
	type result struct {
		p   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := read()
		done <- result{p, err}
	}()
	select {
	case r := <-done:
		return r.p, r.err
	case <-ctx.Done():
		return nil, errStoppedAtPassphrase
	}
}

// output prints v as JSON, or calls human to print it for people.
func (c *cmdFlags) output(e *env, v any, human func(w io.Writer)) error {
	if c.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if c.more != "" && readsOn(e.stderr) {
			fmt.Fprintln(e.stderr, c.more) // (a person reading; a script's stderr stays quiet)
		}
		return enc.Encode(v)
	}
	human(e.stdout)
	return nil
}

// listFlag collects a repeatable, comma-separated flag.
type listFlag struct {
	vals *[]string
	set  bool
}

func (l *listFlag) String() string {
	if l.vals == nil {
		return ""
	}
	return strings.Join(*l.vals, ",")
}

func (l *listFlag) Set(s string) error {
	if !l.set { // the first use replaces any default
		*l.vals, l.set = nil, true
	}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l.vals = append(*l.vals, p)
		}
	}
	return nil
}

func (c *cmdFlags) list(name, usage string) *listFlag {
	l := &listFlag{vals: new([]string)}
	c.Var(l, name, usage)
	return l
}

// optString records whether a string flag was given at all.
type optString struct {
	val *string
}

func (o *optString) String() string {
	if o.val == nil {
		return ""
	}
	return *o.val
}

func (o *optString) Set(s string) error { o.val = &s; return nil }

func (c *cmdFlags) optional(name, usage string) *optString {
	o := &optString{}
	c.Var(o, name, usage)
	return o
}

// readsOn reports whether w is a terminal a person reads.
func readsOn(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
