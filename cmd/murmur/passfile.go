package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
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

// maxPassphraseFile is more than any passphrase: a file larger is not one.
const maxPassphraseFile = 4096

// passphraseGiven is the passphrase given for a service: MURMUR_PASSPHRASE;
// else the file MURMUR_PASSPHRASE_FILE names; else systemd's credential
// murmur-passphrase. ok is false if none is given; a file given that
// cannot be read is an error, not a reason to ask.
func passphraseGiven(e *env) (p []byte, ok bool, err error) {
	if p := e.getenv("MURMUR_PASSPHRASE"); p != "" {
		e.gave = "the one MURMUR_PASSPHRASE gives"
		switch { // (a variable left in the environment wins silently)
		case e.getenv("MURMUR_PASSPHRASE_FILE") != "":
			e.gave += ", which comes before MURMUR_PASSPHRASE_FILE"
		case e.getenv("CREDENTIALS_DIRECTORY") != "":
			e.gave += ", which comes before the service's credential"
		}
		e.gave += oddPassphrase([]byte(p))
		return []byte(p), true, nil
	}
	if file := e.getenv("MURMUR_PASSPHRASE_FILE"); file != "" {
		p, err := interruptible(e.ctx, func() ([]byte, error) {
			if file == "-" || file == "/dev/stdin" {
				// Standard input as it was handed over, not opened again
				// by its name: reopened, a file redirected by a user who
				// may read it (sudo -u murmur … < /etc/murmur/passphrase)
				// is checked against the user the command runs as, and
				// refused.
				return readPassphrase(e.stdin, "standard input")
			}
			warnReadableByOthers(e, file)
			return readPassphraseFile(file)
		})
		if errors.Is(err, errStoppedAtPassphrase) {
			return nil, false, err
		}
		if err != nil {
			return nil, false, usagef("MURMUR_PASSPHRASE_FILE: %v", err)
		}
		if file == "-" || file == "/dev/stdin" {
			e.gave = "the one read from standard input (MURMUR_PASSPHRASE_FILE=" + file + ")"
		} else {
			e.gave = "the one in " + file + " (MURMUR_PASSPHRASE_FILE)"
		}
		e.gave += oddPassphrase(p)
		return p, true, nil
	}
	if dir := e.getenv("CREDENTIALS_DIRECTORY"); dir != "" {
		file := filepath.Join(dir, credentialName)
		p, err := readPassphraseFile(file)
		if errors.Is(err, os.ErrNotExist) {
			return nil, false, nil // (credentials for something else)
		}
		if err != nil {
			return nil, false, fmt.Errorf("the service's credential %s: %v", credentialName, err)
		}
		e.gave = "the one in the service's credential " + credentialName + oddPassphrase(p)
		return p, true, nil
	}
	return nil, false, nil
}

// readPassphraseFile reads a passphrase from a file: its text, without the
// line break an editor ends it with.
func readPassphraseFile(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readPassphrase(f, file)
}

// readPassphrase reads a passphrase from r, named file in errors.
func readPassphrase(r io.Reader, file string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxPassphraseFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %v", file, err)
	}
	if len(b) > maxPassphraseFile {
		return nil, fmt.Errorf("%s is larger than any passphrase (%d bytes at most): is it the right file?", file, maxPassphraseFile)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return nil, fmt.Errorf("%s is empty", file)
	}
	return []byte(s), nil
}

// oddPassphrase says what in a passphrase given for a service is likely
// not meant to be part of it: what an editor or a shell added, often
// invisible. Nothing is taken out: a passphrase chosen with it must still
// open the key.
func oddPassphrase(p []byte) string {
	s := string(p)
	var odd []string
	if strings.HasPrefix(s, "\ufeff") {
		odd = append(odd, "starts with an invisible byte-order mark (some editors add one)")
		s = strings.TrimPrefix(s, "\ufeff")
	} else if strings.TrimLeft(s, " \t") != s {
		odd = append(odd, "starts with spaces or tabs")
	}
	if strings.ContainsAny(strings.TrimRight(s, "\r\n"), "\r\n") {
		odd = append(odd, "has more than one line")
	}
	switch {
	case strings.HasSuffix(s, "\n"), strings.HasSuffix(s, "\r"):
		odd = append(odd, "ends with more than one line break")
	case strings.TrimRight(s, " \t") != s:
		odd = append(odd, "ends with spaces or tabs")
	}
	if len(odd) == 0 {
		return ""
	}
	return ", which " + strings.Join(odd, " and ") + ": all of it counts as part of the passphrase (give the passphrase alone, on one line, as plain text)"
}

// warnReadableByOthers warns when a passphrase file can be read by other
// accounts on this computer: anyone who can read it can open the
// device's key.
func warnReadableByOthers(e *env, file string) {
	if runtime.GOOS == "windows" {
		return // (permissions are not Unix modes there)
	}
	fi, err := os.Stat(file)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o044 == 0 {
		return
	}
	fmt.Fprintf(e.stderr, "Warning: other accounts on this computer can read the passphrase in %s, and with it open this device's key: make it readable by its owner only (chmod 600 %s).\n", file, file)
}
