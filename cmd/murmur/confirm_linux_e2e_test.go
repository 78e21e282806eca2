//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: what is written to master is typed on
// the terminal, tty.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// onTerminal runs murmur with a terminal on stdin, where answer is typed.
func (c *cli) onTerminal(answer string, args ...string) result {
	c.t.Helper()
	master, tty := openPTY(c.t)
	if _, err := master.WriteString(answer); err != nil { // the terminal holds the line until it is read
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, murmurBinary(c.t), args...)
	cmd.Env = append(slices.Clip(c.env), "MURMUR_DIR="+c.dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, &stdout, &stderr
	err := cmd.Run()
	r := result{args: args, stdout: stdout.String(), stderr: withoutSlowOpen(stderr.String())}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		r.code, r.startErr = -1, err
	}
	return r
}

// On a terminal, a revocation shows what it cuts off and asks; only y (or
// yes) goes on.
func TestCLIRevokeAsksOnATerminal(t *testing.T) {
	t.Parallel()
	c, out := founded(t)
	id := c.write("request", "new", "--kind", "verification", "--title", "Does anyone know this applicant?")
	same := c.unchanged()
	for _, answer := range []string{"\n", "n\n", "maybe\n"} {
		r := c.onTerminal(answer, "device", "revoke", out.Device[:8], "--force")
		if r.code != 1 || r.stdout != "" || !strings.HasSuffix(r.stderr, "Revoke this device? [y/N] murmur device revoke: not confirmed: nothing was revoked\n") {
			t.Errorf("answered %q: want exit 1 and nothing revoked:\n%s", answer, r)
		}
		for _, want := range []string{"This revokes this device, device " + out.Device[:12] + ", of Alpha Fund.", "\nLast seen: ", "Warning (--force): it is your organisation's last device"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("answered %q: the prompt should say %q:\n%s", answer, want, r)
			}
		}
		same(r)
	}
	r := c.onTerminal("n\n", "redact", id[:12], "--reason", "named the applicant")
	if r.code != 1 || !strings.Contains(r.stderr, `This takes back the words of request "Does anyone know this applicant?" `+id[:12]) ||
		!strings.HasSuffix(r.stderr, "Redact it? [y/N] murmur redact: not confirmed: nothing was redacted\n") {
		t.Errorf("redact answered no:\n%s", r)
	}
	same(r)

	r = c.onTerminal("y\n", "redact", id[:12], "--reason", "named the applicant")
	if r.code != 0 || !strings.Contains(r.stdout, "Redaction recorded") {
		t.Errorf("redact answered y:\n%s", r)
	}
	r = c.onTerminal("yes\n", "device", "revoke", out.Device[:8], "--force")
	if r.code != 0 || !strings.Contains(r.stdout, "Revoked this device, device "+out.Device[:12]+", of Alpha Fund, last seen ") {
		t.Errorf("answered yes:\n%s", r)
	}
	if !c.status().DeviceRevoked {
		t.Error("confirmed on the terminal, the device is not revoked")
	}
}
