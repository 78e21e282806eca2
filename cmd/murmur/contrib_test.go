package main

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The systemd unit runs the node as a user of its own, hardened, with the
// passphrase as a credential under the name the binary reads, and gives
// `murmur run` flags it takes.
func TestContribSystemdUnit(t *testing.T) {
	f, err := os.Open("../../contrib/murmur.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	unit := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			unit[k] = v
		}
	}
	for k, want := range map[string]string{
		"User": "murmur", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"CapabilityBoundingSet": "", "LoadCredential": credentialName + ":/etc/murmur/passphrase", "TimeoutStopSec": "10",
		"StateDirectory": "murmur", "UMask": "0077", "StartLimitBurst": "5",
	} {
		if got, ok := unit[k]; !ok || got != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	if _, ok := unit["Environment"]; ok {
		t.Error("the unit sets the environment: the passphrase belongs in the credential")
	}
	exec := strings.Fields(unit["ExecStart"])
	checkRunArgs(t, exec)
}

// systemd itself accepts the unit: systemd-analyze verify reads it as the
// service manager would (every directive known, every value valid, the
// program there and executable). No systemd runs in the test's container,
// so the unit is checked, not started; the node's side of it (the
// credential, SIGHUP, SIGTERM) has its own tests.
func TestContribSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
	}
	b, err := os.ReadFile("../../contrib/murmur.service")
	if err != nil {
		t.Fatal(err)
	}
	const installed = "ExecStart=/usr/local/bin/murmur "
	if !bytes.Contains(b, []byte(installed)) {
		t.Fatalf("the unit does not start %q", installed)
	}
	unit := filepath.Join(t.TempDir(), "murmur.service")
	b = bytes.Replace(b, []byte(installed), []byte("ExecStart="+murmurBinary(t)+" "), 1)
	if err := os.WriteFile(unit, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// The launchd plist runs `murmur run` with the passphrase from a file.
func TestContribLaunchdPlist(t *testing.T) {
	b, err := os.ReadFile("../../contrib/org.murmurnet.murmur.plist")
	if err != nil {
		t.Fatal(err)
	}
	var plist struct {
		Dict struct {
			Items []struct {
				XMLName xml.Name
				Text    string   `xml:",chardata"`
				Strings []string `xml:"string"`
				Keys    []string `xml:"key"`
			} `xml:",any"`
		} `xml:"dict"`
	}
	if err := xml.Unmarshal(b, &plist); err != nil {
		t.Fatal(err)
	}
	values := map[string]int{}
	items := plist.Dict.Items
	for i, it := range items {
		if it.XMLName.Local == "key" {
			values[strings.TrimSpace(it.Text)] = i + 1
		}
	}
	args := items[values["ProgramArguments"]].Strings
	checkRunArgs(t, args)
	env := items[values["EnvironmentVariables"]]
	if len(env.Keys) != 1 || env.Keys[0] != "MURMUR_PASSPHRASE_FILE" {
		t.Errorf("the plist's environment: %v", env.Keys)
	}
	if u := strings.TrimSpace(items[values["UserName"]].Text); u == "" || u == "root" {
		t.Errorf("the daemon runs as %q", u)
	}
}

// checkRunArgs: args run the node with flags `murmur help run` lists.
func checkRunArgs(t *testing.T, args []string) {
	t.Helper()
	if len(args) < 2 || !strings.HasSuffix(args[0], "/murmur") || args[1] != "run" {
		t.Fatalf("it runs %v", args)
	}
	help := newCLI(t, "").run("help", "run")
	for _, a := range args[2:] {
		if name, ok := strings.CutPrefix(a, "--"); ok && !strings.Contains(help.stdout+help.stderr, "-"+name+" ") {
			t.Errorf("%s: not a flag of murmur run", a)
		}
	}
}
