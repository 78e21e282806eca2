package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
		return []byte(p), true, nil
	}
	if file := e.getenv("MURMUR_PASSPHRASE_FILE"); file != "" {
		var p []byte
		var err error
		p, err = interruptible(e.ctx, func() ([]byte, error) {
			if file == "-" || file == "/dev/stdin" {
				// Standard input as it was handed over, not opened again
				// by its name: reopened, a file redirected by a user who
				// may read it (sudo -u murmur … < /etc/murmur/passphrase)
				// is checked against the user the command runs as, and
				// refused.
				return readPassphrase(e.stdin, "standard input")
			}
			return readPassphraseFile(file)
		})
		if errors.Is(err, errStoppedAtPassphrase) {
			return nil, false, err
		}
		if err != nil {
			return nil, false, usagef("MURMUR_PASSPHRASE_FILE: %v", err)
		}
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
