package ident

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

type applicantInput struct {
	raw, country string
}

func mustParseApplicant(t *testing.T, in applicantInput) Identifier {
	t.Helper()
	id, err := ParseApplicant(in.raw, in.country)
	if err != nil {
		t.Fatalf("ParseApplicant(%q, %q): %v", in.raw, in.country, err)
	}
	return id
}

// Each group must all parse to want.
func TestApplicantEqual(t *testing.T) {
	groups := []struct {
		name string
		want Identifier
		in   []applicantInput
	}{
		{"latin name: case, accents, punctuation, order, fullwidth", Identifier{"name", "TZ:amina yusuf"}, []applicantInput{
			{"Amina Yusuf", "TZ"},
			{"amina yusuf", "TZ"},
			{"  AMINA   YUSUF ", "TZ"},
			{"Yusuf, Amina", "TZ"},
			{"YUSUF Amina.", "TZ"},
			{"Ámína Yúsuf", "TZ"},
			{"Amina\u00a0Yusuf", "TZ"},        // no-break space
			{"ＡＭＩＮＡ　ＹＵＳＵＦ", "TZ"},             // fullwidth letters and ideographic space
			{"Ami\u00adna Yu\u200bsuf", "TZ"}, // soft hyphen, zero-width space
			{"\u200eAmina Yusuf\u200f", "TZ"}, // bidi marks
			{"name:Amina Yusuf", "TZ"},        // explicit kind
			{"NAME: amina-yusuf", "TZ"},       // prefix in any case; hyphen is punctuation
			{"Amina\tYusuf\n", "TZ"},          // control whitespace
		}},
		{"combining and precomposed accents", Identifier{"name", "NI:jose lopez"}, []applicantInput{
			{"José López", "NI"},
			{"Jose\u0301 Lo\u0301pez", "NI"},
			{"JOSE LOPEZ", "NI"},
			{"López, José", "NI"},
		}},
		{"german sharp s folds to ss", Identifier{"name", "DE:strasse"}, []applicantInput{
			{"Straße", "DE"},
			{"STRASSE", "DE"},
			{"strasse", "DE"},
			{"STRAẞE", "DE"}, // capital sharp s
		}},
		{"latin letters with a stroke", Identifier{"name", "PL:lukasz"}, []applicantInput{
			{"Łukasz", "PL"},
			{"Lukasz", "PL"},
		}},
		{"vietnamese", Identifier{"name", "VN:nguyen thi thu"}, []applicantInput{
			{"Nguyễn Thị Thu", "VN"},
			{"Nguyen Thi Thu", "VN"},
			{"Thu Thị NGUYỄN", "VN"},
		}},
		{"turkish dotted capital I", Identifier{"name", "TR:ismail"}, []applicantInput{
			{"İsmail", "TR"},
			{"İSMAİL", "TR"},
			{"ismail", "TR"},
			{"ISMAIL", "TR"},
		}},
		{"turkish dotless i and cedilla", Identifier{"name", "TR:isik"}, []applicantInput{
			{"Işık", "TR"},
			{"IŞIK", "TR"},
			{"Isik", "TR"},
		}},
		{"cyrillic case and yo", Identifier{"name", "RU:федор юсупов"}, []applicantInput{
			{"Фёдор Юсупов", "RU"},
			{"ФЁДОР ЮСУПОВ", "RU"},
			{"Юсупов, Федор", "RU"},
		}},
		{"greek case, final sigma and tonos", Identifier{"name", "GR:νικοσ"}, []applicantInput{
			{"Νίκος", "GR"},
			{"ΝΙΚΟΣ", "GR"},
			{"νικος", "GR"},
		}},
		{"arabic: harakat, hamza seats, kashida, word order", Identifier{"name", "SD:احمد علي"}, []applicantInput{
			{"أحمد علي", "SD"},
			{"احمد علي", "SD"},
			{"أَحْمَد عَلِيّ", "SD"},
			{"احـــمد على", "SD"}, // kashida; alef maksura for final yeh
			{"علي، أحمد", "SD"},   // Arabic comma
			{"ﺃﺣﻤﺪ ﻋﻠﻲ", "SD"},    // presentation forms (NFKC)
		}},
		{"persian and arabic keyboards", Identifier{"name", "IR:علي كريمي"}, []applicantInput{
			{"علی کریمی", "IR"}, // Persian yeh and keheh
			{"علي كريمي", "IR"}, // Arabic yeh and kaf
		}},
		{"hebrew points", Identifier{"name", "IL:משה"}, []applicantInput{
			{"משה", "IL"},
			{"מֹשֶׁה", "IL"},
		}},
		{"chinese", Identifier{"name", "CN:张伟"}, []applicantInput{
			{"张伟", "CN"},
			{" 张伟 ", "CN"},
		}},
		{"chinese foreign name with middle dot", Identifier{"name", "CN:穆罕默德 阿里"}, []applicantInput{
			{"穆罕默德·阿里", "CN"},
			{"阿里 穆罕默德", "CN"},
		}},
		{"devanagari", Identifier{"name", "IN:अमीना यूसुफ"}, []applicantInput{
			{"अमीना यूसुफ", "IN"},
			{"यूसुफ, अमीना", "IN"},
			{"अमीना\u200d यूसुफ", "IN"}, // zero-width joiner
		}},
		{"tanzanian mobile", Identifier{"phone", "+255712345678"}, []applicantInput{
			{"+255 712 345 678", ""},
			{"+255712345678", "KE"}, // the country does not matter for an international number
			{"00255712345678", ""},
			{"00 255 712 345 678", "TZ"},
			{"0712 345 678", "TZ"},
			{"(0712) 345-678", "TZ"},
			{"712 345 678", "TZ"},
			{"0712.345.678", "TZ"},
			{"0712/345678", "TZ"},
			{"0712–345–678", "TZ"}, // en dashes
			{"+255 (0) 712 345 678", ""},
			{"(+255) 712 345 678", ""},
			{"+٢٥٥٧١٢٣٤٥٦٧٨", ""},    // Arabic-Indic digits
			{"+۲۵۵۷۱۲۳۴۵۶۷۸", ""},    // Extended Arabic-Indic digits (Persian, Urdu)
			{"०७१२३४५६७८", "TZ"},     // Devanagari digits
			{"＋２５５ ７１２ ３４５ ６７８", ""}, // fullwidth
			{"\u202a+255 712 345 678\u202c", ""},
			{"phone:0712 345 678", "TZ"},
			{"Phone: +255 712 345 678", ""},
		}},
		{"north american", Identifier{"phone", "+12125550100"}, []applicantInput{
			{"+1 (212) 555-0100", ""},
			{"(212) 555-0100", "US"},
			{"1-212-555-0100", "US"},
			{"212.555.0100", "US"},
			{"001 212 555 0100", ""},
			{"212-555-0100", "CA"}, // one plan: the number is the same
		}},
		{"italy keeps its 0", Identifier{"phone", "+390612345678"}, []applicantInput{
			{"06 1234 5678", "IT"},
			{"+39 06 1234 5678", ""},
			{"0039 06 1234 5678", ""},
			{"06 1234 5678", "VA"},
		}},
		{"russia", Identifier{"phone", "+79123456789"}, []applicantInput{
			{"+7 912 345-67-89", ""},
			{"8 912 345-67-89", "RU"},
			{"8 (912) 345-67-89", "RU"},
			{"912 345 67 89", "RU"},
		}},
		{"united kingdom", Identifier{"phone", "+442079460000"}, []applicantInput{
			{"020 7946 0000", "GB"},
			{"+44 (0)20 7946 0000", ""},
			{"+44 20 7946 0000", ""},
		}},
		{"email case", Identifier{"email", "amina.yusuf@example.org"}, []applicantInput{
			{"amina.yusuf@example.org", ""},
			{"Amina.Yusuf@Example.ORG", "TZ"},
			{"  AMINA.YUSUF@EXAMPLE.ORG  ", ""},
			{"email:Amina.Yusuf@example.org", ""},
			{"EMAIL: amina.yusuf@example.org", ""},
			{"ａｍｉｎａ．ｙｕｓｕｆ＠ｅｘａｍｐｌｅ．ｏｒｇ", ""},
		}},
		{"id punctuation, case and country", Identifier{"id", "ab1234567"}, []applicantInput{
			{"id:AB-123 456/7", ""},
			{"id:ab1234567", "TZ"}, // the country is not part of an ID
			{"ID: A.B. 123.456.7", "KE"},
			{"Id:ＡＢ１２３４５６７", ""},
			{"id:AB-١٢٣٤٥٦٧", ""},
		}},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, in := range g.in {
				if got := mustParseApplicant(t, in); got != g.want {
					t.Errorf("ParseApplicant(%q, %q) = %+v, want %+v", in.raw, in.country, got, g.want)
				}
			}
		})
	}
}

// Each group's inputs must all parse to different values.
func TestApplicantDifferent(t *testing.T) {
	groups := []struct {
		name string
		in   []applicantInput
	}{
		{"no transliteration", []applicantInput{{"Amina", "TZ"}, {"Амина", "TZ"}, {"أمينة", "TZ"}}},
		{"name country", []applicantInput{{"Amina Yusuf", "TZ"}, {"Amina Yusuf", "KE"}}},
		{"different names", []applicantInput{{"Amina Yusuf", "TZ"}, {"Amina Yusufu", "TZ"}, {"Amina Hassan Yusuf", "TZ"}}},
		{"joined words", []applicantInput{{"Abdul Rahman", "SD"}, {"Abdulrahman", "SD"}}},
		{"umlaut is not e", []applicantInput{{"Müller", "DE"}, {"Mueller", "DE"}}},
		{"chinese scripts", []applicantInput{{"张伟", "CN"}, {"張偉", "CN"}}},
		// Devanagari ु ू (U+0941, U+0942) and Thai ั (U+0E31) are nonspacing marks
		// (Mn) like Latin accents, but spell the vowel: they are kept.
		{"devanagari vowel signs are kept", []applicantInput{{"यूसुफ", "IN"}, {"यसफ", "IN"}, {"अमीना", "IN"}, {"अमिना", "IN"}, {"अमन", "IN"}}},
		{"thai vowel signs are kept", []applicantInput{{"สมชาย", "TH"}, {"สมชัย", "TH"}, {"สมชย", "TH"}}},
		{"arabic letters", []applicantInput{{"أحمد", "SD"}, {"محمد", "SD"}, {"حامد", "SD"}}},
		{"phones", []applicantInput{{"+255 712 345 678", ""}, {"+255 712 345 679", ""}, {"0712 345 678", "KE"}, {"+254 712 345 679", ""}}},
		{"italian zero", []applicantInput{{"06 1234 5678", "IT"}, {"06 1234 5678", "FR"}}},
		{"emails", []applicantInput{{"amina@example.org", ""}, {"amina@example.com", ""}, {"amina.y@example.org", ""}}},
		{"ids", []applicantInput{{"id:AB1234567", ""}, {"id:AB1234568", ""}, {"id:BA1234567", ""}}},
		{"kinds", []applicantInput{{"name:12345678", "TZ"}, {"id:12345678", "TZ"}, {"phone:12345678", "TZ"}}},
		{"few digits are a name", []applicantInput{{"12345", "TZ"}, {"id:12345", "TZ"}}},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			seen := map[Identifier]applicantInput{}
			for _, in := range g.in {
				id := mustParseApplicant(t, in)
				if prev, ok := seen[id]; ok {
					t.Errorf("%+v and %+v both give %+v", prev, in, id)
				}
				seen[id] = in
			}
		})
	}
}

func TestApplicantKind(t *testing.T) {
	for _, c := range []struct {
		raw, kind string
	}{
		{"Amina Yusuf", "name"},
		{"a@b.org", "email"},
		{"+255 712 345 678", "phone"},
		{"123456", "phone"},
		{"12345", "name"},
		{"AB-123456", "name"}, // letters: a name unless id: says otherwise
		{"id:AB-123456", "id"},
		{"Name:+255712345678", "name"},
		{"iD:x-1-2", "id"},
	} {
		id, err := ParseApplicant(c.raw, "TZ")
		if err != nil {
			t.Fatalf("ParseApplicant(%q): %v", c.raw, err)
		}
		if id.Kind != c.kind {
			t.Errorf("ParseApplicant(%q).Kind = %q, want %q", c.raw, id.Kind, c.kind)
		}
	}
}

func TestApplicantErrors(t *testing.T) {
	for _, c := range []struct {
		raw, country, want string
	}{
		{"", "TZ", "empty"},
		{"   \u200b ", "TZ", "empty"},
		{"name:", "TZ", "nothing follows"},
		{"Amina Yusuf", "", "add --country CC"},
		{"name:Amina", "", "add --country CC"},
		{"!!! ...", "TZ", "at least one letter"},
		{"Amina", "tz", "not an ISO 3166-1"},
		{"Amina", "XX", "not an ISO 3166-1"},
		{"0712 345 678", "", "needs the applicant's country (--country CC) or the international prefix"},
		{"712345678", "", "needs the applicant's country"},
		{"0712 345 678", "BV", "no calling code"},
		{"+255 712 345 678 9012345", "", "7 to 15 digits"},
		{"phone:+25512", "", "7 to 15 digits"},
		{"+123456", "", "7 to 15 digits"},
		{"phone:12", "TZ", "7 to 15 digits"},
		{"phone:0712 345 678 ext 5", "TZ", "only digits"},
		{"255+712345678", "", "only at the start"},
		{"+0712345678", "", "never starts with 0"},
		{"amina@", "", "email address"},
		{"@example.org", "", "email address"},
		{"amina@example", "", "email address"},
		{"amina@@example.org", "", "email address"},
		{"a@b@example.org", "", "email address"},
		{"amina yusuf@example.org", "", "email address"},
		{"amina@example.org.", "", "email address"},
		{"email:amina", "", "email address"},
		{"id:A-1", "", "at least 3"},
		{"id:--//", "", "at least 3"},
		{strings.Repeat("a", 201), "TZ", "longer than"},
		{"Amina \xff", "TZ", "UTF-8"},
	} {
		_, err := ParseApplicant(c.raw, c.country)
		if err == nil {
			t.Errorf("ParseApplicant(%q, %q): no error, want one containing %q", c.raw, c.country, c.want)
			continue
		}
		if !errors.Is(err, ErrInput) {
			t.Errorf("ParseApplicant(%q, %q): %v is not an input error", c.raw, c.country, err)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseApplicant(%q, %q): %q, want it to contain %q", c.raw, c.country, err, c.want)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseApplicant(%q, %q): error %q is not one line", c.raw, c.country, err)
		}
	}
	// 200 bytes is still read.
	if _, err := ParseApplicant(strings.Repeat("a", 200), "TZ"); err != nil {
		t.Errorf("200 bytes: %v", err)
	}
}

// Digits of every script map to their ASCII values.
func TestApplicantDigits(t *testing.T) {
	for _, zero := range []rune{'0', '٠', '۰', '०', '০', '๐', '߀', '០', '၀', '０', '𝟎', '𝟘', '𝟶'} {
		for i := range rune(10) {
			d, ok := asciiDigit(zero + i)
			if !ok || d != byte('0'+i) {
				t.Errorf("asciiDigit(%U) = %q, %v; want %q", zero+i, d, ok, '0'+i)
			}
		}
	}
	if _, ok := asciiDigit('a'); ok {
		t.Error("asciiDigit('a') ok")
	}
}

func TestBlindIdentifier(t *testing.T) {
	secret := []byte("network secret for the test")
	id := Identifier{Kind: "phone", Value: "+255712345678"}
	a := BlindIdentifier(secret, id)
	if a != BlindIdentifier(secret, id) {
		t.Fatal("not deterministic")
	}
	if a == BlindIdentifier([]byte("another secret"), id) {
		t.Error("same token under another secret")
	}
	if a == BlindIdentifier(secret, Identifier{Kind: "phone", Value: "+255712345679"}) {
		t.Error("same token for another value")
	}
	if a == BlindIdentifier(secret, Identifier{Kind: "id", Value: id.Value}) {
		t.Error("same token for the same value under another kind")
	}
	// The separator keeps kind and value apart.
	if BlindIdentifier(secret, Identifier{Kind: "id", Value: "x"}) == BlindIdentifier(secret, Identifier{Kind: "idx", Value: ""}) {
		t.Error("kind and value run together")
	}
	// Golden: tokens recorded by one release must match those computed by the
	// next, so this construction (and its domain text) must not change.
	const golden = "85a07538e859543f2fd512af8ffc4ce9540119caf873e88ce7bce4006d3c514d"
	if got := hex.EncodeToString(a[:]); got != golden {
		t.Errorf("BlindIdentifier = %s, want %s", got, golden)
	}
}

func TestCallingCodes(t *testing.T) {
	for region, cc := range callingCodes {
		if !regionSet[region] {
			t.Errorf("callingCodes[%q]: not an ISO 3166-1 alpha-2 code in isoRegions", region)
		}
		if cc == "" || len(cc) > 3 || strings.Trim(cc, "0123456789") != "" || cc[0] == '0' {
			t.Errorf("callingCodes[%q] = %q: not a calling code", region, cc)
		}
	}
	// Every region has one but those documented as having none.
	none := map[string]bool{"BV": true, "HM": true, "TF": true, "UM": true}
	for _, region := range strings.Fields(isoRegions) {
		if _, ok := callingCodes[region]; ok == none[region] {
			t.Errorf("%s: in callingCodes %v, documented as without one %v", region, ok, none[region])
		}
	}
	for region, cc := range map[string]string{
		"TZ": "255", "KE": "254", "UG": "256", "NI": "505", "US": "1", "CA": "1", "PR": "1", "JM": "1",
		"KZ": "7", "RU": "7", "GB": "44", "IT": "39", "VA": "39", "SM": "378", "FR": "33", "DE": "49",
		"IN": "91", "CN": "86", "BR": "55", "MX": "52", "ZA": "27", "EG": "20", "SD": "249", "SS": "211",
		"IR": "98", "TR": "90", "PS": "970", "IL": "972", "HK": "852", "TW": "886", "AU": "61", "NZ": "64",
		"FI": "358", "AX": "358", "NO": "47", "SJ": "47", "MA": "212", "EH": "212", "RE": "262", "YT": "262",
	} {
		if callingCodes[region] != cc {
			t.Errorf("callingCodes[%q] = %q, want %q", region, callingCodes[region], cc)
		}
	}
}
