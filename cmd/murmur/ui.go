package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/web"
)

func cmdUI(e *env, args []string) error {
	c := newNodeFlags(e, "ui", `[--ui-listen ADDR] [--no-browser]

Opens the web interface in the browser. If no node runs on this data
directory, it starts one here, as murmur run does (asking for the
passphrase first), and keeps it running until Ctrl-C; if one runs already,
it opens that node's interface and returns.`, "murmur ui")
	uiListen := c.String("ui-listen", web.DefaultAddr, "where the web interface listens, if this starts the node (as murmur run --ui-listen)")
	noBrowser := c.Bool("no-browser", false, "print the address instead of opening a browser")
	if _, err := c.parseArgs(args); err != nil {
		return err
	}
	if err := checkUIListen(*uiListen); err != nil || *uiListen == "off" {
		return usagef("--ui-listen %q: give an IP address with a port, such as %s", *uiListen, web.DefaultAddr)
	}
	dir, err := c.dataDir(e)
	if err != nil {
		return err
	}
	if !node.Initialised(dir) && !node.Joining(dir) {
		return fmt.Errorf("there is no Murmur node in %s yet: found a network with murmur init, or join one with murmur join CODE", dir)
	}
	open := func(url string) {
		if *noBrowser {
			fmt.Fprintf(e.stdout, "Open %s in a browser on this computer.\n", url)
			return
		}
		if err := openBrowser(url); err != nil {
			fmt.Fprintf(e.stdout, "Could not open a browser (%v): open %s on this computer.\n", err, url)
			return
		}
		fmt.Fprintf(e.stdout, "Opened %s in the browser.\n", url)
	}
	if _, running := node.Running(dir); running {
		b, err := os.ReadFile(filepath.Join(dir, uiAddrName))
		if err != nil {
			return errors.New("the node running on this data directory serves no web interface (it was started with --ui-listen off, or another program held its port): stop it and run murmur ui")
		}
		addr := strings.TrimSpace(string(b))
		if uiOverTLS(addr) {
			if fp, err := node.WebFingerprint(dir); err == nil {
				fmt.Fprintf(e.stdout, "Its certificate's SHA-256 fingerprint (check that the browser shows the same before giving the passphrase):\n  %s\n", fp)
			}
			open("https://" + addr + "/")
		} else {
			open("http://" + addr + "/")
		}
		return nil
	}
	e.onUI = open
	runArgs := []string{"--ui-listen", *uiListen}
	if c.dir != "" {
		runArgs = append(runArgs, "--dir", c.dir)
	}
	return cmdRun(e, runArgs)
}

// openBrowser opens url in the desktop's browser.
func openBrowser(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return errors.New("no desktop session")
		}
		cmd = exec.Command("xdg-open", url)
	}
	cmd.Env = withoutSecrets(os.Environ())
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	return nil
}

// withoutSecrets is env without what gives the passphrase: the browser,
// and all it starts, need not hold it.
func withoutSecrets(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return k == "MURMUR_PASSPHRASE" || k == "MURMUR_PASSPHRASE_FILE" || k == "CREDENTIALS_DIRECTORY"
	})
}
