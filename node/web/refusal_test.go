package web

import (
	"context"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/ident"
)

// verbs are the arguments an English refusal's words take, in order: 'd'
// for a number, 's' for anything else.
var verb = regexp.MustCompile(`%(\[\d+\])?[sdqv]`)

// Every refusal the node names is in every catalogue, with each of its
// facts, and nothing the printer could not fill in.
func TestEveryRefusalInEveryLanguage(t *testing.T) {
	cats, err := loadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	codes := ident.RefusalCodes()
	if len(codes) < 50 {
		t.Fatalf("only %d refusals are defined: the node's table is not loaded", len(codes))
	}
	for code, english := range codes {
		var args []any
		var want []string
		for i, v := range verb.FindAllString(english, -1) {
			if strings.HasSuffix(v, "d") {
				args = append(args, 700+i)
				want = append(want, strconv.Itoa(700+i))
				continue
			}
			args = append(args, "FACT"+strconv.Itoa(i))
			want = append(want, "FACT"+strconv.Itoa(i))
		}
		for _, c := range cats.list {
			if _, ok := c.Messages["refusal."+code]; !ok {
				t.Errorf("%s lacks refusal.%s (%q)", c.Tag, code, english)
				continue
			}
			// A language with digits of its own writes them in its words
			// too (review 14: "من 7 إلى 15 … ٥").
			if c.zero != '0' && strings.ContainsAny(verb.ReplaceAllString(c.Messages["refusal."+code], ""), "0123456789") {
				t.Errorf("%s refusal.%s has digits other than its own: %q", c.Tag, code, c.Messages["refusal."+code])
			}
			got := ident.ASCIIDigits(c.refusal(&node.Refusal{Code: code, Args: args}))
			if strings.Contains(got, "%!") {
				t.Errorf("%s refusal.%s: %q", c.Tag, code, got)
			}
			for _, w := range want {
				if !strings.Contains(got, w) {
					t.Errorf("%s refusal.%s leaves out %s: %q", c.Tag, code, w, got)
				}
			}
		}
	}
}

// A refusal is said in the person's language, a time in it as the language
// writes times; one the node does not name is still said, marked as
// English.
func TestRefusalsInThePersonsLanguage(t *testing.T) {
	f := newFixture(t)
	c := f.unlocked()
	es := map[string]string{"Accept-Language": "es"}
	req, err := f.n.NewRequest(context.Background(), node.RequestInput{Kind: "verification", Title: "¿Quién la conoce?"})
	if err != nil {
		t.Fatal(err)
	}
	path := "/requests/" + req.ID().String()
	_, page := f.do(c, "GET", path, nil, es)
	tok := csrfOf(t, page)
	for i := range 2 {
		resp, page := f.do(c, "POST", path+"/close", url.Values{"csrf": {tok}, "confirm": {"yes"}}, es)
		if i == 0 {
			continue
		}
		// (the ID, a fact, is laid out apart from the sentence: review 14)
		want := `No se cerró: la solicitud <bdi dir="auto">` + req.ID().String()[:12] + `</bdi> ya está cerrada.`
		if resp.StatusCode != 422 || !strings.Contains(page, want) || strings.Contains(page, "inglés") {
			t.Fatalf("closing twice, in Spanish: %s\n%s", resp.Status, page)
		}
	}
	// An answer refused is said where the page opens, not by its form far
	// below (review 14).
	letter, err := f.n.NewRequest(context.Background(), node.RequestInput{Kind: "letter", Title: "Carta conjunta"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.n.Respond(context.Background(), node.ResponseInput{Request: letter.ID().String(), Type: "sign"}); err != nil {
		t.Fatal(err)
	}
	resp, page := f.do(c, "POST", "/requests/"+letter.ID().String()+"/respond", url.Values{"csrf": {tok}, "type": {"sign"}, "body": {"Firmamos."}}, es)
	problem := strings.Index(page, "su organización ya firmó esta carta")
	if resp.StatusCode != 422 || problem < 0 || problem > strings.Index(page, `class="facts"`) || !strings.Contains(page, ">Firmamos.</textarea>") {
		t.Fatalf("signing twice, in Spanish: %s\n%s", resp.Status, page)
	}
	// What the applicant's identifier is refused for, from the vocabulary's
	// own checks.
	_, page = f.do(c, "GET", "/grants", nil, es)
	resp, page = f.do(c, "POST", "/grants", url.Values{"csrf": {csrfOf(t, page)}, "action": {"check"}, "phone": {"+255 12"}}, es)
	if resp.StatusCode != 422 || !strings.Contains(page, "un teléfono tiene de 7 a 15 cifras con el prefijo del país, este 5") {
		t.Fatalf("a short phone number, in Spanish: %s\n%s", resp.Status, page)
	}
	// In Arabic, with the language's digits.
	resp, page = f.do(c, "POST", "/grants", url.Values{"csrf": {tok}, "action": {"check"}, "phone": {"+255 12"}}, map[string]string{"Accept-Language": "ar"})
	if resp.StatusCode != 422 || !strings.Contains(page, "وهذا ٥") {
		t.Fatalf("a short phone number, in Arabic: %s\n%s", resp.Status, page)
	}
	// A title too long for the network is said in characters: an Arabic
	// letter takes two of its bytes (review 14).
	_, page = f.do(c, "GET", "/requests/new", nil, nil)
	resp, page = f.do(c, "POST", "/requests/new", url.Values{"csrf": {csrfOf(t, page)}, "kind": {"verification"}, "title": {strings.Repeat("ع", 150)}},
		map[string]string{"Accept-Language": "ar"})
	if resp.StatusCode != 422 || !strings.Contains(page, "طول العنوان ١٥٠ حرفًا؛ ولا يتسع منها إلا ١٠٠") {
		t.Fatalf("a long Arabic title: %s\n%s", resp.Status, page)
	}
	// A refusal without a name keeps the node's words, said to be English.
	p := page0(f, "es")
	if got := string(problemHTML(p.refused("close.refused", context.DeadlineExceeded))); !strings.Contains(got, `Murmur lo explica en inglés: «<bdi dir="auto">context deadline exceeded</bdi>»`) {
		t.Errorf("an unnamed refusal: %q", got)
	}
	// A name cannot take the marks apart, nor bring markup.
	if got := string(problemHTML(isolated("Alpha \ue001</bdi><script>\ue000"))); got != `<bdi dir="auto">Alpha &lt;/bdi&gt;&lt;script&gt;</bdi>` {
		t.Errorf("a name with the marks in it: %q", got)
	}
}

// page0 is a page in language tag, to call what a handler calls.
func page0(f *fixture, tag string) page {
	cats, err := loadCatalogues()
	if err != nil {
		f.t.Fatal(err)
	}
	return page{lang: cats.byTag[tag]}
}

// A forged form, or one from a page out of date, is told so in the
// person's language, not in the command line's words (review 14, L2).
func TestForgedChoicesInThePersonsLanguage(t *testing.T) {
	f := newFixture(t)
	c := f.unlocked()
	fr := map[string]string{"Accept-Language": "fr"}
	_, page := f.do(c, "GET", "/requests/new", nil, fr)
	tok := csrfOf(t, page)
	for _, forged := range []url.Values{
		{"respond_by": {"99y"}}, {"urgency": {"extreme"}, "kind": {"alert"}, "region": {"KE"}}, {"needs": {"bogus"}}, {"languages": {"xx-"}},
		{"region": {"ZZ"}}, {"to": {"00000000000000000000000000000000"}},
		{"kind": {"funding"}, "amount": {"100"}, "currency": {"XXX"}},
	} {
		form := url.Values{"csrf": {tok}, "kind": {"verification"}, "title": {"Titre"}}
		for k, v := range forged {
			form[k] = v
		}
		resp, page := f.do(c, "POST", "/requests/new", form, fr)
		if resp.StatusCode != 422 || !strings.Contains(page, "L’un des choix n’est pas proposé par ce formulaire") || strings.Contains(page, "l’explique en anglais") {
			t.Errorf("forged %v: %s\n%s", forged, resp.Status, page)
		}
	}
	_, page = f.do(c, "GET", "/members", nil, fr)
	tok = csrfOf(t, page)
	for _, device := range []string{"zz", strings.Repeat("0", 64)} {
		resp, page := f.do(c, "POST", "/members/revoke", url.Values{"csrf": {tok}, "device": {device}, "confirm": {"yes"}}, fr)
		if !strings.Contains(page, "Ce nœud ne connaît pas cet appareil") || strings.Contains(page, "l’explique en anglais") {
			t.Errorf("revoking device %q: %s\n%s", device, resp.Status, page)
		}
	}
	resp, page := f.do(c, "POST", "/members/approve", url.Values{"csrf": {tok}, "org": {"Nobody"}, "confirm": {"yes"}}, fr)
	if strings.Contains(page, "l’explique en anglais") || !strings.Contains(page, "n’attend pas d’admission") {
		t.Errorf("approving no one: %s\n%s", resp.Status, page)
	}
}
