package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unicode"

	"golang.org/x/term"
)

// A node run unattended (a service) is given its passphrase without a
// terminal. The environment is the simplest way, and the weakest: other
// processes of the same user, and crash reports, can see it. A file is
// better, and systemd's credentials best: LoadCredential= hands the
// service a file only it can read, in $CREDENTIALS_DIRECTORY, and no
// environment shows it (contrib/murmur.service).

// credentialName is the credential a systemd service gives Murmur its
// passphrase in (LoadCredential=murmur-passphrase:/etc/murmur/passphrase).
const credentialName = "murmur-passphrase"

// maxPassphrase is more than any passphrase: a file holding more is not
// one, and init refuses a longer one (it could not be given in a file).
const maxPassphrase = 4096

// given is how a passphrase was given for a service (passphraseGiven).
type given struct {
	from   string   // in words: "the one in FILE (MURMUR_PASSPHRASE_FILE)"
	before string   // another way also given, that this one came before
	odd    []string // what in it is likely not meant to be part of it (oddities)
}

// String says it, for the error if the passphrase is the wrong one.
func (g *given) String() string {
	s := g.from
	if g.before != "" {
		s += ", which comes before " + g.before
	}
	if len(g.odd) > 0 {
		s += ", and it " + oddList(g.odd) + ": all of it counts as part of the passphrase (give the passphrase alone, on one line, as plain text)"
	}
	return s
}

// oddList lists what is odd in a passphrase given: "starts with …, has …
// and ends with …".
func oddList(odd []string) string {
	if len(odd) == 1 {
		return odd[0]
	}
	return strings.Join(odd[:len(odd)-1], ", ") + " and " + odd[len(odd)-1]
}

// passphraseGiven is the passphrase given for a service: MURMUR_PASSPHRASE;
// else the file MURMUR_PASSPHRASE_FILE names (or standard input, unless
// that is a terminal: then it is asked for, unseen); else systemd's
// credential murmur-passphrase. ok is false if none is given; a file given
// that cannot be read is an error, not a reason to ask. e.given says how
// it was given.
func passphraseGiven(e *env) (p []byte, ok bool, err error) {
	credentials := e.getenv("CREDENTIALS_DIRECTORY")
	if p := e.getenv("MURMUR_PASSPHRASE"); p != "" {
		// (a variable left in the environment wins silently, but for this)
		g := &given{from: "the one MURMUR_PASSPHRASE gives", odd: oddities([]byte(p), false)}
		switch {
		case e.getenv("MURMUR_PASSPHRASE_FILE") != "":
			g.before = "MURMUR_PASSPHRASE_FILE"
		case credentials != "":
			g.before = "the service's credential"
		}
		e.given = g
		return []byte(p), true, nil
	}
	if file := e.getenv("MURMUR_PASSPHRASE_FILE"); file != "" {
		stdin := file == "-" || file == "/dev/stdin"
		if f, ok := e.stdin.(*os.File); stdin && ok && term.IsTerminal(int(f.Fd())) {
			return nil, false, nil // (typed: at the prompt, unseen, not echoed)
		}
		var fi os.FileInfo
		p, err := interruptible(e.ctx, func() ([]byte, error) {
			if stdin {
				// Standard input as it was handed over, not opened again
				// by its name: reopened, a file redirected by a user who
				// may read it (sudo -u murmur … < /etc/murmur/passphrase)
				// is checked against the user the command runs as, and
				// refused.
				if f, ok := e.stdin.(*os.File); ok {
					fi, _ = f.Stat()
				}
				return readPassphrase(e.stdin, "standard input")
			}
			f, err := os.Open(file)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			fi, _ = f.Stat()
			return readPassphrase(f, file)
		})
		if errors.Is(err, errStoppedAtPassphrase) {
			return nil, false, err
		}
		if err != nil {
			return nil, false, usagef("MURMUR_PASSPHRASE_FILE: %v", err)
		}
		g := &given{from: "the one in " + file + " (MURMUR_PASSPHRASE_FILE)", odd: oddities(p, true)}
		if stdin {
			g.from = "the one read from standard input (MURMUR_PASSPHRASE_FILE=" + file + ")"
		}
		if credentials != "" {
			g.before = "the service's credential"
		}
		e.given = g
		warnReadableByOthers(e, fi, file, stdin)
		return p, true, nil
	}
	if credentials != "" {
		file := filepath.Join(credentials, credentialName)
		f, err := os.Open(file)
		if err == nil {
			defer f.Close()
			p, err = readPassphrase(f, "it")
		}
		if errors.Is(err, os.ErrNotExist) {
			return nil, false, nil // (see passphraseFrom)
		}
		if err != nil {
			return nil, false, usagef("the service's credential %s: %v", credentialName, err)
		}
		e.given = &given{from: "the one in the service's credential " + credentialName, odd: oddities(p, true)}
		return p, true, nil
	}
	return nil, false, nil
}

// readPassphrase reads a passphrase from r, named file in errors: its
// text, without the line break an editor ends it with.
func readPassphrase(r io.Reader, file string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxPassphrase+3))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %v", file, err)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if len(s) > maxPassphrase {
		return nil, fmt.Errorf("%s is larger than any passphrase (%d bytes at most): is it the right file?", file, maxPassphrase)
	}
	if s == "" {
		return nil, fmt.Errorf("%s is empty", file)
	}
	return []byte(s), nil
}

// oddities are what in a passphrase given for a service is likely not
// meant to be part of it: what an editor or a shell added, often
// invisible. stripped: the line break that ends a file was taken off.
// Nothing is taken out: a passphrase chosen with it must still open the
// key.
func oddities(p []byte, stripped bool) []string {
	s := string(p)
	if bytes.HasPrefix(p, []byte{0xff, 0xfe}) || bytes.HasPrefix(p, []byte{0xfe, 0xff}) || bytes.IndexByte(p, 0) >= 0 {
		return []string{`is saved as UTF-16 ("Unicode" in Notepad), not as plain text (UTF-8)`}
	}
	var odd []string
	if t, ok := strings.CutPrefix(s, "\ufeff"); ok {
		odd = append(odd, "starts with an invisible byte-order mark (some editors add one)")
		s = t
	}
	if strings.TrimSpace(s) == "" {
		return append(odd, "holds nothing else but spaces, tabs or line breaks")
	}
	if strings.TrimLeft(s, " \t") != s {
		odd = append(odd, "starts with spaces or tabs")
	}
	body := strings.TrimRight(s, "\r\n")
	if strings.ContainsAny(body, "\r\n") {
		odd = append(odd, "has more than one line")
	}
	if strings.IndexFunc(body, func(r rune) bool { return unicode.IsControl(r) && r != '\t' && r != '\r' && r != '\n' }) >= 0 {
		odd = append(odd, "holds invisible control characters")
	}
	var ends []string
	if strings.TrimRight(body, " \t") != body {
		ends = append(ends, "spaces or tabs")
	}
	if body != s {
		if stripped {
			ends = append(ends, "more than one line break")
		} else {
			ends = append(ends, "a line break")
		}
	}
	if len(ends) > 0 {
		odd = append(odd, "ends with "+strings.Join(ends, ", then "))
	}
	return odd
}

// warnReadableByOthers warns when the file a passphrase was read from (fi,
// named file) can be read by other accounts on this computer: anyone who
// can read it can open the device's key.
func warnReadableByOthers(e *env, fi os.FileInfo, file string, stdin bool) {
	if runtime.GOOS == "windows" || fi == nil || !fi.Mode().IsRegular() {
		return // (Windows: permissions are not Unix modes there)
	}
	if owner, uid := fileOwner(fi); !stdin && uid > 0 && uid != os.Geteuid() {
		// (root's is fine: root can read anything anyway)
		e.notice(slog.LevelWarn, fmt.Sprintf("the passphrase file %s belongs to the user %s, who can read it and so open this device's key: give it to the user this command runs as, or to root (chown)", file, owner))
	}
	if fi.Mode().Perm()&0o044 == 0 {
		return
	}
	if stdin {
		e.notice(slog.LevelWarn, "other accounts on this computer can read the file the passphrase came from on standard input, and with it open this device's key: make it readable by its owner only (chmod 600 FILE).")
		return
	}
	e.notice(slog.LevelWarn, fmt.Sprintf("other accounts on this computer can read the passphrase in %s, and with it open this device's key: make it readable by its owner only (chmod 600 %s).", file, shellWord(file)))
}
