package crdt

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"
)

// Real titles and names that must be accepted, written with the invisible
// characters spelled out so that an editor cannot drop them.
var writableNames = []struct{ lang, s string }{
	{"Persian: I need help (ZWNJ in mi-khaham)", "\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645 \u06A9\u0645\u06A9"},
	{"Persian: letters (ZWNJ before a plural suffix)", "\u0646\u0627\u0645\u0647\u200C\u0647\u0627"},
	{"Persian: ZWNJ before a vowel sign", "\u0628\u200C\u064E\u0627"},
	{"Arabic: urgent help for defenders", "طلب مساعدة عاجلة للمدافعين"},
	{"Arabic with vowel signs", "مُسَاعَدَة"},
	{"Arabic title naming a Latin organisation in an isolate", "طلب من \u2068Amnesty International\u2069 للمساعدة"},
	{"nested isolates", "\u2067\u0645\u0646 \u2066Front Line\u2069\u2069"},
	{"Hindi: ksha with ZWJ (half form)", "\u0915\u094D\u200D\u0937 \u0938\u0939\u093E\u092F\u0924\u093E"},
	{"Hindi: ksha with ZWNJ (explicit virama)", "\u0915\u094D\u200C\u0937"},
	{"Hindi: human rights defender", "मानवाधिकार रक्षक"},
	{"Bengali: RAB with ZWJ (ya-phala)", "\u09B0\u200D\u09CD\u09AF\u09BE\u09AC"},
	{"Bengali: human rights worker", "মানবাধিকার কর্মী"},
	{"Sinhala: Sri with ZWJ", "\u0DC1\u0DCA\u200D\u0DBB\u0DD3 \u0DBD\u0D82\u0D9A\u0DCF"},
	{"Malayalam: chillu with ZWJ", "\u0D28\u0D4D\u200D"},
	{"Amharic: human rights defenders", "የሰብአዊ መብት ተሟጋቾች"},
	{"Burmese: human rights", "လူ့အခွင့်အရေး"},
	{"Burmese with a zero-width space between words", "\u1019\u103C\u1014\u103A\u1019\u102C\u200B\u1014\u102D\u102F\u1004\u103A\u1004\u1036"},
	{"Khmer: human rights", "សិទ្ធិមនុស្ស"},
	{"Khmer with a zero-width space between words", "\u179F\u17B7\u1791\u17D2\u1792\u17B7\u200B\u1798\u1793\u17BB\u179F\u17D2\u179F"},
	{"Thai: help", "ขอความช่วยเหลือ"},
	{"emoji: health worker (woman, ZWJ, staff of Aesculapius)", "Need a \U0001F469\u200D\u2695\uFE0F in Goma"},
	{"emoji: rainbow flag (white flag, VS16, ZWJ, rainbow)", "\U0001F3F3\uFE0F\u200D\U0001F308 shelter"},
	{"emoji: family", "\U0001F468\u200D\U0001F469\u200D\U0001F467"},
	{"emoji: technologist with a skin tone", "\U0001F9D1\U0001F3FD\u200D\U0001F4BB support"},
	{"emoji: Scotland's flag (tag sequence)", "\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F"},
	{"emoji: keycap and heart", "1\uFE0F\u20E3 \u2764\uFE0F"},
	{"ideographic variation selector", "\u845B\U000E0100\u98FE"},
	{"Latin with accents", "Défenseurs des droits – Côte d’Ivoire"},
	{"Arabic with a right-to-left mark keeping the question mark in place", "\u0647\u0644 \u062A\u0639\u0631\u0641\u0648\u0646 2024\u200F\u061F"},
	{"Persian with a left-to-right mark after a Latin acronym", "\u06AF\u0632\u0627\u0631\u0634 UN\u200E \u062F\u0631\u0628\u0627\u0631\u0647"},
	{"Hebrew with an Arabic letter mark", "\u05E2\u05D6\u05E8\u061C 3"},
}

// Names that hide or spoof text: refused when written and when received.
var hiddenNames = []struct{ what, s, want string }{
	{"right-to-left override (Trojan Source)", "invoice\u202Egnp.exe", "override"},
	{"left-to-right override", "\u202Dabc", "override"},
	{"balanced embedding", "a\u202Ab\u202C", "override or embedding"},
	{"pop directional formatting alone", "ab\u202C", "override or embedding"},
	{"unclosed isolate", "\u2067abc", "does not close"},
	{"isolates closed out of the string", "\u2066a\u2069\u2069", "never opened"},
	{"ZWSP inside a Latin word", "pay\u200Bpal", "zero-width space"},
	{"ZWNJ inside a Latin word", "pay\u200Cpal", "non-joiner"},
	{"ZWJ inside a Latin word", "pay\u200Dpal", "non-joiner"},
	{"ZWJ first", "\u200D\u0645\u06CC", "non-joiner"},
	{"ZWNJ last", "\u06A9\u0645\u06A9\u200C", "non-joiner"},
	{"ZWNJ between a letter and a space", "\u0645\u06CC\u200C \u062E", "non-joiner"},
	{"ZWJ between an emoji and a letter", "\U0001F469\u200Da", "non-joiner"},
	{"ZWNJ between two emoji", "\U0001F469\u200C\U0001F469", "non-joiner"},
	{"bell", "a\u0007b", "control"},
	{"tab", "a\tb", "control"},
	{"newline", "a\nb", "control"},
	{"delete", "a\u007Fb", "control"},
	{"soft hyphen", "pass\u00ADword", "invisible"},
	{"word joiner", "a\u2060b", "invisible"},
	{"right-to-left mark in Latin text", "abc\u200Fdef", "no right-to-left letters"},
	{"Arabic letter mark in Latin text", "a\u061Cb", "no right-to-left letters"},
	{"two marks in a row", "\u0645\u200F\u200Fabc", "two direction marks"},
	{"isolates around nothing", "\u2066 \u2069", "nothing a reader can see"},
	{"byte order mark", "\uFEFFabc", "invisible"},
	{"interlinear annotation", "a\uFFF9b\uFFFBc", "invisible"},
	{"tag characters smuggling ASCII", "hello\U000E0041\U000E0042", "invisible"},
	{"unfinished flag", "\U0001F3F4\U000E0067\U000E0062", "unfinished flag"},
	{"private use", "a\uE000b", "invisible"},
}

// Accepted by the rule before this one, so still accepted from other
// nodes, but no longer written.
var legacyNames = []struct{ what, s, want string }{
	{"Hangul filler as a blank name", "\u3164", "filler"},
	{"halfwidth Hangul filler", "a\uFFA0b", "filler"},
	{"only a combining mark", "\u0301", "nothing a reader can see"},
	{"combining grapheme joiner", "a\u034Fb", "filler"},
	{"variation selector with no base", "\uFE0Fabc", "variation selector"},
	{"variation selector after a space", "a \uFE0F", "variation selector"},
	{"two variation selectors", "\u2764\uFE0F\uFE0F", "variation selector"},
}

func TestNamesOfRealLanguages(t *testing.T) {
	for _, c := range writableNames {
		if err := CheckNew(&Request{Type: Verification, Title: c.s}); err != nil {
			t.Errorf("%s: %q refused: %v", c.lang, c.s, err)
		}
		if err := checkName("title", c.s, true); err != nil {
			t.Errorf("%s: %q refused from another node: %v", c.lang, c.s, err)
		}
		// The whole path: signed, encoded, decoded by a peer.
		raw, err := EncodeBody(&Request{Type: Verification, Title: c.s})
		if err != nil {
			t.Fatalf("%s: %v", c.lang, err)
		}
		e, err := Sign(testKey(t), Draft{Network: ID{1}, Seq: 1, Clock: 1, Kind: KindRequest, Body: raw})
		if err != nil {
			t.Errorf("%s: signing: %v", c.lang, err)
			continue
		}
		d, err := Verify(e.Raw())
		if err != nil {
			t.Errorf("%s: a peer refuses it: %v", c.lang, err)
			continue
		}
		if got := d.ParsedBody().(*Request).Title; got != c.s {
			t.Errorf("%s: read back as %q", c.lang, got)
		}
	}
}

func TestNamesThatHideText(t *testing.T) {
	for _, c := range hiddenNames {
		for _, legacy := range []bool{false, true} {
			err := checkNameChars("title", c.s, legacy)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s (legacy %v): %q gave %v, want a refusal saying %q", c.what, legacy, c.s, err, c.want)
			}
		}
		if err := CheckNew(&Genesis{NetworkName: "n", OrgName: c.s, Quorum: 1}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: organisation name %q written: %v", c.what, c.s, err)
		}
		raw, err := EncodeBody(&Request{Type: Verification, Title: c.s})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Sign(testKey(t), Draft{Network: ID{1}, Seq: 1, Clock: 1, Kind: KindRequest, Body: raw}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: signed: %v", c.what, err)
		}
	}
	for _, c := range legacyNames {
		if err := CheckNew(&Directory{Name: c.s}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %q written: %v, want a refusal saying %q", c.what, c.s, err, c.want)
		}
		if err := checkName("name", c.s, true); err != nil {
			t.Errorf("%s: %q, valid before, now refused from another node: %v", c.what, c.s, err)
		}
	}
}

// The refusal names the character and where it is, and does not read like
// a program's internals.
func TestNameRefusalSaysWhere(t *testing.T) {
	err := CheckNew(&Request{Type: Verification, Title: "invoice\u202Egnp.exe"})
	want := "title holds a direction override or embedding, which can make text read differently than it is stored (U+202E, character 8)"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func testKey(t *testing.T) []byte {
	t.Helper()
	seed := make([]byte, 32)
	seed[0] = 7
	return KeyFromSeed(seed)
}

// Text that is not UTF-8 is named in words, not by a field number.
func TestNotUTF8SaidInWords(t *testing.T) {
	cases := []struct {
		body any
		want string
	}{
		{&Genesis{NetworkName: "\xff network", OrgName: "\xff", Quorum: 1}, "organisation name is not readable text (it is not UTF-8): retype it"},
		{&Request{Type: Verification, Title: "ok", Text: "a\xffb"}, "the text is not readable text (it is not UTF-8): save or type it again as UTF-8"},
		{&Response{Request: ID{1}, Type: Comment, Text: "\xfe"}, "the text is not readable text"},
		{&Directory{Contact: "\xfe"}, "the contact is not readable text"},
		{&Redaction{Target: ID{1}, Reason: "\xfe"}, "the reason is not readable text"},
		{&RequestClosed{Request: ID{1}, Note: "\xfe"}, "the note is not readable text"},
	}
	for _, c := range cases {
		err := CheckNew(c.body)
		if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "U+") {
			t.Errorf("%T: %v, want %q", c.body, err, c.want)
		}
	}
}

// Over random strings of the characters that matter: a name valid under
// the rule before this one stays valid from peers (no entry already signed
// becomes invalid), and what may be written is always accepted from peers.
func TestNameRuleOnlyWidensForPeers(t *testing.T) {
	alphabet := []rune("aZ 1.?\u0645\u06CC\u062E\u064E\u0915\u094D\u0937\u0DCA\u17D2\u1780\u05D0" +
		"\u200B\u200C\u200D\u200E\u200F\u061C\u2066\u2067\u2068\u2069\u202A\u202E\u202C" +
		"\uFE0F\uFE00\U000E0100\u3164\u034F\u0301\u00AD\u2060\uFEFF\u0007" +
		"\U0001F469\u2695\U0001F3F3\U0001F308\U0001F3FD\U0001F3F4\U000E0067\U000E0062\U000E007F")
	rng := rand.New(rand.NewPCG(12, 34))
	for range 50000 {
		rs := make([]rune, 1+rng.IntN(8))
		for i := range rs {
			rs[i] = alphabet[rng.IntN(len(alphabet))]
		}
		s := string(rs)
		old := true
		for _, r := range s {
			old = old && (unicode.IsPrint(r) || r == ' ')
		}
		strict, _ := nameProblem(s, false)
		legacy, why := nameProblem(s, true)
		if old && legacy != -1 {
			t.Fatalf("%+q was valid before, now refused from peers: %s", s, why)
		}
		if strict == -1 && legacy != -1 {
			t.Fatalf("%+q may be written but is refused from peers: %s", s, why)
		}
	}
}
