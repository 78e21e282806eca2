package crdt

import (
	"strings"
	"testing"
)

// Names that look like another are one name; names that look different
// are two.
func TestNameSkeleton(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"Beta", "beta", true},
		{"Beta", "  BETA ", true},
		{"Beta Collective", "beta\u00A0\u00A0collective", true}, // NBSP, two of them
		{"Beta", "Be\uFE0Fta", true},                            // variation selector
		{"Beta", "Be\u180Bta", true},                            // Mongolian FVS
		{"Beta", "Be\u200Bta", true},                            // zero-width space
		{"Beta", "Be\u00ADta", true},                            // soft hyphen
		{"Beta", "B\u0435ta", true},                             // Cyrillic е
		{"Beta", "\u0412\u0415\u0422\u0410", true},              // ВЕТА, all Cyrillic capitals
		{"Beta", "\u0392\u0395\u03A4\u0391", true},              // ΒΕΤΑ, all Greek capitals
		{"Beta", "\uFF22\uFF45\uFF54\uFF41", true},              // fullwidth Ｂｅｔａ (NFKC)
		{"Copa", "\u0441\u043E\u0440\u0430", true},              // сора, all Cyrillic small
		{"pax", "\u03C1\u03B1\u03BD", false},                    // ραν looks like "pav", not "pax"
		{"pav", "\u03C1\u03B1\u03BD", true},
		{"Mena", "\u041C\u0415\u041D\u0410", false}, // МЕНА reads "MEHA"
		{"Meha", "\u041C\u0415\u041D\u0410", true},  // МЕНА
		{"Мемориал", "МЕМОРИАЛ", true},              // a Russian name, in either case
		{"Ελλάς", "ΕΛΛΆΣ", true},                    // Greek, final sigma
		{"Мемориал", "Memorial", false},             // a transliteration is another name
		{"Beta", "Betta", false},                    // a different name
		{"Alpha Fund", "Alpha Fonds", false},        // a different name
		{"\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645", "\u0645\u06CC\u062E\u0648\u0627\u0647\u0645", true}, // ZWNJ set aside
		{"ሰላም", "ሰላም ", true},      // Amharic
		{"सहायता", "सहायता", true}, // Hindi
		{"सहायता", "सहयता", false},
		{"Xray Aid", "XrayAid", true}, // spaces, punctuation and symbols set aside
		{"Xray Aid", "Xray-Aid", true},
		{"Xray Aid", "Xray_Aid", true},
		{"Xray Aid", "Xray Aid.", true},
		{"Xray Aid", "Xray Aid™", true}, // ™
		{"Xray Aid", "X r a y Aid", true},
		{"Xray Aid", "Xray Ald", false}, // another letter
		{"***", "###", false},           // a name of nothing else keeps them
		// Letters one script draws alike (review 6: each was admitted).
		{"Alpha Fund", "AIpha Fund", true}, // capital I for small l
		{"Beta Collective", "Beta CoIIective", true},
		{"Beta Collective", "Beta Co11ective", true}, // digit one
		{"Gamma Group", "Gamrna Group", true},        // rn for m
		{"Bolt Aid", "B0lt Aid", false},              // (a zero looks like a capital O)
		{"BOLT Aid", "B0LT Aid", true},
		{"Wave", "VVave", true},
		{"IDA", "LDA", false}, // case matters here: these look different
		{"Ilya Fund", "Ilya Fund", true},
		{"Ilya Fund", "llya Fund", true},
		{"Iris", "Lris", false},
	} {
		if got := SameName(tc.a, tc.b); got != tc.same {
			l1, u1 := NameSkeletons(tc.a)
			l2, u2 := NameSkeletons(tc.b)
			t.Errorf("SameName(%+q, %+q) = %v, want %v (skeletons %+q %+q / %+q %+q)", tc.a, tc.b, got, tc.same, l1, u1, l2, u2)
		}
	}
}

// Real names in the world's scripts are organisation names; what makes a
// name look like another is refused, saying where.
func TestOrgNameLookalikes(t *testing.T) {
	for _, ok := range []string{
		"Beta",
		"\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645 \u06A9\u0645\u06A9", // Persian with ZWNJ
		"Мемориал", // Russian
		"Правозащитный центр «Мемориал»",         // Russian, several words
		"Ελληνική Ένωση για τα Δικαιώματα",       // Greek
		"የኢትዮጵያ ሰብአዊ መብቶች ጉባኤ",                   // Amharic
		"\u0915\u094D\u200D\u0937 सहायता केंद्र", // Hindi with ZWJ
		"Memorial Мемориал",                      // two words, one script each
		"Red Cross \u2764\uFE0F",                 // emoji with its selector
		"Hotline \u260E\uFE0F",                   // ☎️
		"Room 1\uFE0F\u20E3",                     // keycap
		"\u1828\u180B\u1820",                     // Mongolian with its FVS
		"\u845B\U000E0100 Foundation",            // Han with an ideographic selector
		"Café Solidarité",                        // Latin with accents
	} {
		if err := CheckNew(&Admission{Name: ok}); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, tc := range []struct{ name, want string }{
		{"Be\uFE0Fta", "organisation name holds a variation selector after a letter, where it changes nothing a reader sees and makes the name look like another (U+FE0F, character 3)"},
		{"Be\U000E0100ta", "organisation name holds a variation selector after a letter"},
		{"Be\u180Bta", "organisation name holds a Mongolian variation selector outside Mongolian text, where it only hides (U+180B, character 3)"},
		{"B\u0435ta", "organisation name mixes Latin and Cyrillic letters in one word, which is how a name is made to look like another (U+0435, character 2)"},
		{"\u0412eta", "organisation name mixes Cyrillic and Latin letters in one word"},
		{"Alph\u03B1 Fund", "organisation name mixes Latin and Greek letters in one word"},
		{"Мем\u03BFриал", "organisation name mixes Cyrillic and Greek letters in one word"},
	} {
		err := CheckNew(&Admission{Name: tc.name})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+q: got %v, want %q", tc.name, err, tc.want)
		}
	}
	// the founder's organisation and the network are held to the same rule
	if err := CheckNew(&Genesis{OrgName: "Founders", NetworkName: "N\u0435twork"}); err == nil || !strings.Contains(err.Error(), "network name mixes") {
		t.Errorf("network name with a Cyrillic e: %v", err)
	}
	// an entry from another node is not: what was valid stays valid
	if err := checkNameChars("organisation name", "B\u0435ta", true); err != nil {
		t.Errorf("a peer's mixed-script name: %v", err)
	}
}

// Free text keeps what documents and languages hold, and refuses what
// reorders or hides text.
func TestFreeText(t *testing.T) {
	for _, ok := range []string{
		"Rendez-vous\u00A0: lundi à 9\u00A0h.\nMerci\u202F!", // French, NBSP and narrow NBSP
		"re\u00ADcord\twith a tab",                           // soft hyphen, tab
		"\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645 \u2067Amnesty\u2069 \u200F123",
		"\U0001F469\u200D\u2695\uFE0F",
		"",
	} {
		for _, b := range []any{&Response{Text: ok}, &Request{Title: "t", Text: ok}, &RedactionV2{Reason: ok}, &Redaction{Reason: ok}, &Directory{Contact: ok}, &RequestClosed{Note: ok}, &DeviceRevoked{Reason: ok}} {
			if err := CheckNew(b); err != nil {
				t.Errorf("%T %+q refused: %v", b, ok, err)
			}
		}
	}
	for _, tc := range []struct {
		b    any
		want string
	}{
		{&Response{Text: "see invoice\u202Egnp.exe"}, "the text holds a direction override or embedding, which can make text read differently than it is stored (U+202E, character 12)"},
		{&Request{Title: "t", Text: "a\u202Ab"}, "the text holds a direction override or embedding"},
		{&RedactionV2{Reason: "wrong\u202Dfile"}, "the reason holds a direction override or embedding, which can make text read differently than it is stored (U+202D, character 6)"},
		{&Redaction{Reason: "x\u202C"}, "the reason holds a direction override"},
		{&Directory{Contact: "+255\u202B"}, "the contact holds a direction override"},
		{&RequestClosed{Note: "done\x1b[2J"}, "the note holds a control character (only line breaks and tabs are kept) (U+001B, character 5)"},
		{&DeviceRevoked{Reason: "lost\rphone"}, "the reason holds a control character"},
		{&Response{Text: "a\u0085b"}, "the text holds a control character (only line breaks and tabs are kept) (U+0085, character 2)"},
		{&Response{Text: "a\x7Fb"}, "the text holds a control character"},
	} {
		err := CheckNew(tc.b)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%T: got %v, want %q", tc.b, err, tc.want)
		}
	}
}
