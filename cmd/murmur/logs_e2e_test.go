package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Markers planted in what members write: no log line and no metric may
// hold one. Lower case letters only, so that no normalisation (an
// applicant's name is folded before it is blinded) hides one from the
// search.
const (
	titleMarker     = "qzvtitlemarker"
	bodyMarker      = "qzvbodymarker"
	answerMarker    = "qzvanswermarker"
	applicantMarker = "qzvapplicantmarker"
	phoneMarker     = "+255 799 123 457"
)

// TestLogsAndMetricsOfARun: two organisations run, at the debug level
// (the most the log says), one in JSON and one in text; the first serves
// metrics. Members write a request with a title and a body, an answer, and
// a grant with an applicant's name and phone number; everything syncs.
// Then every line either node wrote, on standard error and standard
// output, and every metric, are read for the markers: none may be there.
// The log and the metrics must also say what happened: the lines are
// JSON where asked, name the sync, and the metrics count the entries and
// the peer.
func TestLogsAndMetricsOfARun(t *testing.T) {
	a, _ := founded(t)
	ra := a.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--log-level", "debug", "--log-format", "json", "--metrics", "127.0.0.1:0")
	addr := ra.addr(t)
	var code codeOut
	a.json(&code, "invite", "--addr", addr, "--expires", "1h")
	b := newCLI(t, t.TempDir())
	var joined joinOut
	b.json(&joined, "join", code.Code, "--org", "Beta Collective", "--no-passphrase")
	rb := b.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--peer", addr, "--log-level", "debug")
	eventually(t, 30*time.Second, "Beta is admitted", func() bool {
		st := b.memberStatus()
		return !st.Joining && st.Admitted
	})
	converged := func(what string) {
		t.Helper()
		eventually(t, 30*time.Second, what, func() bool { return a.memberStatus().Digest == b.memberStatus().Digest })
	}
	converged("the two converge")

	var req idOutput
	a.json(&req, "request", "new", "--kind", "verification", "--title", "Applicant "+titleMarker, "--body", "Details: "+bodyMarker)
	a.ok("grant", "record", "--applicant", "Amina "+applicantMarker, "--applicant", phoneMarker, "--country", "TZ",
		"--amount", "1500", "--currency", "USD", "--support", "emergency-grant")
	converged("the request and the grant reach Beta")
	b.ok("respond", req.ID, "--type", "vouch", "--body", "We know them: "+answerMarker)
	converged("the answer reaches Alpha")
	// Beta checks the applicant (the network's secret reached it).
	eventually(t, 30*time.Second, "Beta can check the applicant", func() bool {
		return b.run("grant", "check", "--applicant", "amina "+applicantMarker, "--country", "TZ").code == 0
	})

	m := regexp.MustCompile(`Metrics \(this computer only\): (http://\S+)`).FindStringSubmatch(ra.stdout.String())
	if m == nil {
		t.Fatalf("murmur run --metrics did not say where:\n%s", ra.stdout.String())
	}
	var metrics string
	eventually(t, 30*time.Second, "the metrics count Beta's answer and the connection", func() bool {
		metrics = scrape(t, m[1])
		return metric(metrics, `murmur_entries_received_total{path="gossip"}`)+metric(metrics, `murmur_entries_received_total{path="sync"}`) >= 1 &&
			metric(metrics, "murmur_peers_connected") == 1
	})
	if got, want := metric(metrics, `murmur_entries{status="accepted"}`), float64(a.memberStatus().Entries); got != want {
		t.Errorf("murmur_entries{status=accepted} = %v, status says %v", got, want)
	}
	if got := metric(metrics, "murmur_entries_written_total"); got < 2 {
		t.Errorf("murmur_entries_written_total = %v: the request and the grant were written while the node ran", got)
	}
	if got := metric(metrics, `murmur_member_seconds_since_contact{org="`+joined.Org+`"}`); got != 0 {
		t.Errorf("seconds since contact with Beta, connected: %v, want 0\n%s", got, metrics)
	}
	if !strings.Contains(metrics, `murmur_gossip_peer_score{device="`) || !strings.Contains(metrics, "murmur_sync_sessions_total") {
		t.Errorf("the metrics lack the peers' scores or the sessions:\n%s", metrics)
	}
	for _, name := range []string{"Beta Collective", "Alpha Fund", "Applicant"} {
		if strings.Contains(metrics, name) {
			t.Errorf("the metrics name %q: organisations go by ID, and no entry's words belong there", name)
		}
	}

	for _, rn := range []*runningNode{ra, rb} {
		rn.stop(t, syscall.SIGTERM)
	}
	logs := map[string]string{"Alpha's standard error": ra.stderr.String(), "Beta's standard error": rb.stderr.String(),
		"Alpha's standard output": ra.stdout.String(), "Beta's standard output": rb.stdout.String(), "the metrics": metrics}
	for where, text := range logs {
		low := strings.ToLower(text)
		// Nor the names of the network and its organisations: lines are
		// kept in clear (a journal), where the database is sealed.
		for _, marker := range []string{titleMarker, bodyMarker, answerMarker, applicantMarker, "799 123 457", "799123457", "alpha fund", "beta collective"} {
			if strings.Contains(low, marker) {
				t.Errorf("%s holds %q, which a member wrote:\n%s", where, marker, text)
			}
		}
	}

	// Alpha's lines are JSON, at every level asked for, and say what moved.
	levels := map[string]int{}
	synced := false
	sc := bufio.NewScanner(strings.NewReader(ra.stderr.String()))
	for sc.Scan() {
		var line struct {
			Time  time.Time `json:"time"`
			Level string    `json:"level"`
			Msg   string    `json:"msg"`
			Peer  string    `json:"peer"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil || line.Time.IsZero() || line.Msg == "" {
			t.Errorf("a line of --log-format json is not a JSON object with time, level and msg: %q (%v)", sc.Text(), err)
			continue
		}
		levels[line.Level]++
		synced = synced || strings.HasPrefix(line.Msg, "synced with") && line.Peer != ""
	}
	if levels["DEBUG"] == 0 || levels["INFO"] == 0 || !synced {
		t.Errorf("Alpha's JSON log: lines by level %v, a sync with its peer's ID: %v; want debug and info lines and the sync\n%s", levels, synced, ra.stderr.String())
	}
	// Beta's are text for a person: a time, then words.
	text := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (debug: |warning: |error: )?[^{]`)
	for _, l := range strings.Split(strings.TrimSpace(rb.stderr.String()), "\n") {
		if !text.MatchString(l) {
			t.Errorf("a text log line: %q", l)
		}
	}
	if !strings.Contains(rb.stderr.String(), " debug: ") {
		t.Errorf("--log-level debug wrote no debug line:\n%s", rb.stderr.String())
	}
}

// TestLogLevelAndFormatAreChecked: a level or a format murmur does not
// know is refused before the node starts, saying what it takes.
func TestLogLevelAndFormatAreChecked(t *testing.T) {
	c, _ := founded(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--log-level", "loud"}, "debug, info, warn or error"},
		{[]string{"--log-format", "xml"}, "text or json"},
		{[]string{"--metrics", "0.0.0.0:9721"}, "this computer only"},
		{[]string{"--metrics", "localhost:9721"}, "not a name such as localhost"},
		// (run prints no one value: --json is not among its flags)
		{[]string{"--json"}, "not defined: -json"},
	} {
		r := c.run(append([]string{"run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--ui-listen", "off"}, tc.args...)...)
		refused(t, r, 2)
		if !strings.Contains(r.stderr, tc.want) {
			t.Errorf("murmur run %s: %q, want it to say %q", strings.Join(tc.args, " "), r.stderr, tc.want)
		}
	}
	if help := c.ok("run", "--help"); strings.Contains(help.stdout, "-json\n") {
		t.Errorf("murmur run --help lists --json:\n%s", help.stdout)
	}
	// A port in use for the metrics is said before the node starts (it
	// meets no one), and, in JSON, as a line of the log.
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	r := c.run("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--ui-listen", "off", "--log-format", "json", "--metrics", held.Addr().String())
	var line struct{ Level, Msg string }
	if r.code != 1 || strings.Contains(r.stdout, "Listening on") || json.Unmarshal([]byte(r.stderr), &line) != nil || line.Level != "ERROR" || !strings.Contains(line.Msg, "is in use") {
		t.Errorf("--metrics on a port in use, --log-format json: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	// At warn, a quiet start writes nothing on standard error.
	rn := c.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--log-level", "warn")
	rn.addr(t)
	rn.stop(t, syscall.SIGTERM)
	if s := rn.stderr.String(); s != "" {
		t.Errorf("--log-level warn, nothing wrong: %q", s)
	}
}

// scrape reads the metrics at url.
func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", url, resp.Status, err)
	}
	return string(b)
}

// metric is the value of the series named exactly name (with its labels),
// or -1 if there is none.
func metric(metrics, name string) float64 {
	for _, l := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// A joining node answers on its metrics port at once: 503 while it waits
// for its inviter (a scrape used to hang until the join was done), then
// its metrics.
func TestMetricsWhileJoining(t *testing.T) {
	t.Parallel()
	a, _ := founded(t)
	ra := a.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--ui-listen", "off")
	addrA := ra.addr(t)
	var code codeOut
	a.json(&code, "invite", "--addr", addrA, "--expires", "1h")
	ra.interrupt(t) // the inviter is away
	b := newCLI(t, t.TempDir())
	b.ok("join", code.Code, "--addr", code.Addrs[0], "--org", "Beta Collective", "--no-passphrase")
	rb := b.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--ui-listen", "off", "--metrics", "127.0.0.1:0")
	client := &http.Client{Timeout: 10 * time.Second}
	var url string
	eventually(t, 30*time.Second, "the joining node says where its metrics are", func() bool {
		m := regexp.MustCompile(`Metrics \(this computer only\): (http://\S+)`).FindStringSubmatch(rb.stdout.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	})
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "joining") {
		t.Fatalf("metrics while joining: %s %q", resp.Status, body)
	}
	// The inviter back: the join completes and the metrics follow.
	ra = a.start("run", "--listen", addrA[:strings.Index(addrA, "/p2p/")], "--no-mdns", "--ui-listen", "off")
	eventually(t, 60*time.Second, "the metrics once joined", func() bool {
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK && strings.Contains(string(body), "murmur_peers_connected")
	})
	rb.interrupt(t)
	ra.interrupt(t)
}
