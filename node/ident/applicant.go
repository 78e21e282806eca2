package ident

// Applicant identifiers for the double-funding check.
//
// A member who makes a grant records the applicant only as blinded tokens
// (crdt.Grant): one keyed hash per identifier — a name with its country, a
// phone number, an email address, a registration, passport or national ID
// number. Another member checks an applicant by computing the same tokens
// locally and looking them up. A token matches only if both members arrive
// at exactly the same normalised text, so ParseApplicant folds away the
// differences that come from how a person types rather than from who the
// applicant is:
//
//   - Unicode compatibility forms (NFKC): fullwidth "ＡＭＩＮＡ", ligatures,
//     Arabic presentation forms, non-breaking and ideographic spaces;
//     invisible format characters (bidi marks pasted from messaging apps,
//     zero-width joiners, soft hyphens) are dropped.
//   - Case, by full Unicode case folding: "AMINA" = "amina", "ΝΊΚΟΣ" =
//     "νίκοσ", "STRASSE" = "Straße", Turkish "İSMAİL" = "ismail".
//   - In names: accents on Latin, Greek and Cyrillic letters ("José" =
//     "Jose", "Фёдор" = "Федор", "Νίκος" = "Νικος"), the few Latin letters
//     that carry a stroke or lack a dot instead of a separate accent (ł ø đ
//     ħ ı become l o d h i), the optional vowel marks of Arabic and Hebrew,
//     the Arabic hamza ("أحمد" = "احمد") and kashida, and the Persian and Arabic forms of yeh and
//     kaf; punctuation, spacing and word order ("Yusuf, Amina" = "amina
//     yusuf"). The vowel signs of Devanagari, Thai and other scripts whose
//     marks are part of the spelling are kept.
//   - In phone numbers: separators, digits of any script (Arabic-Indic
//     "٠٧١٢", Devanagari "०७१२", fullwidth), the international prefix
//     written "+" or "00", a trunk prefix 0 (or 8 in Russia and Kazakhstan)
//     on a number typed nationally with --country, a leading 1 on a North
//     American number, and a "(0)" inside an international number.
//   - In email addresses: case. In ID numbers: case, spaces, punctuation and
//     symbols ("AB-123 456/7" = "ab1234567"), and digits of any script.
//
// What it does not catch, so that a check finding nothing is not proof
// that the applicant was not funded:
//
//   - Transliteration: "Амина" and "Amina", "محمد" and "Mohamed", "張偉"
//     and "张伟" (traditional and simplified Chinese) all differ, and so do
//     spelling conventions such as "Müller" and "Mueller", "Mohammed" and
//     "Muhammad", or Arabic "ة" and "ه".
//   - Nicknames, short forms, added or missing names ("Bill" and "William
//     Smith"; "Amina Yusuf" and "Amina Hassan Yusuf"), and names split or
//     joined differently ("Abdul Rahman" and "Abdulrahman").
//   - Typos: one wrong letter or digit gives an unrelated token.
//   - Different numbers or addresses for the same person: each is its own
//     token; record every one the applicant gave.
//   - A national phone number typed with the wrong --country, an
//     international number typed without its "+" or "00" (read as a
//     national number), and national numbering quirks beyond those above;
//     there is no per-country numbering plan here. Email aliases
//     ("a.b+x@example.org" and "ab@example.org") are distinct addresses.
//
// A name is matched together with its country, because common names repeat
// across the world, so the same person under two countries gives two
// tokens. Phone numbers and email addresses are global. An ID number is
// matched without its country, so that it matches whether or not the
// country was given; the price is that equal numbers issued by two
// countries to different people match too, which a human then resolves.

import (
	"crypto/hmac"
	"crypto/sha256"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Identifier is one normalised applicant identifier.
type Identifier struct {
	Kind  string // "name", "phone", "email", "id"
	Value string // normalised
}

// maxApplicantInput is the longest identifier ParseApplicant reads, in bytes.
const maxApplicantInput = 200

// applicantKinds are the prefixes that choose a kind, in the folded form
// they are matched in.
var applicantKinds = []string{"name", "phone", "email", "id"}

// ParseApplicant reads one identifier as typed. country is an ISO 3166-1
// alpha-2 code already canonicalised (e.g. "TZ") or "".
//
// An optional prefix "name:", "phone:", "email:" or "id:" (in any case)
// chooses the kind. Without one, text with an "@" is an email address, text
// of only digits and the separators + - ( ) . / and spaces with at least six
// digits is a phone number, and anything else is a name. A name, and a
// phone number without its international prefix, need the country.
func ParseApplicant(raw, country string) (Identifier, error) {
	if len(raw) > maxApplicantInput {
		return Identifier{}, RefuseInput("applicant-long", len(raw), maxApplicantInput)
	}
	if !utf8.ValidString(raw) {
		return Identifier{}, RefuseInput("applicant-not-text")
	}
	if country != "" && !regionSet[country] {
		return Identifier{}, RefuseInput("applicant-country", country)
	}
	s := foldText(raw)
	if s == "" {
		return Identifier{}, RefuseInput("applicant-empty")
	}

	kind := ""
	for _, k := range applicantKinds {
		if rest, ok := strings.CutPrefix(s, k+":"); ok {
			kind, s = k, strings.TrimSpace(rest)
			if s == "" {
				return Identifier{}, RefuseInput("applicant-nothing-after", k+":")
			}
			break
		}
	}
	if kind == "" {
		switch {
		case strings.ContainsRune(s, '@'):
			kind = "email"
		case looksLikePhone(s):
			kind = "phone"
		default:
			kind = "name"
		}
	}

	var (
		v   string
		err error
	)
	switch kind {
	case "name":
		v, err = normName(s, country)
	case "phone":
		v, err = normPhone(s, country)
	case "email":
		v, err = normEmail(s)
	case "id":
		v, err = normID(s)
	}
	if err != nil {
		return Identifier{}, err
	}
	return Identifier{Kind: kind, Value: v}, nil
}

// applicantTokenDomain separates applicant tokens from every other use of
// the network's secret; "v1" names this construction and normalisation.
const applicantTokenDomain = "murmur-applicant-v1\x00"

// BlindIdentifier is the token: HMAC-SHA256 keyed with secret over
// "murmur-applicant-v1\x00" + Kind + "\x00" + Value.
func BlindIdentifier(secret []byte, id Identifier) [32]byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(applicantTokenDomain))
	m.Write([]byte(id.Kind))
	m.Write([]byte{0})
	m.Write([]byte(id.Value))
	var t [32]byte
	m.Sum(t[:0])
	return t
}

// foldText applies what every kind shares: NFKC, full case folding (NFKC
// again, since folding can leave text unnormalised), format characters
// (Cf: bidi marks, zero-width joiners, soft hyphens) dropped, other control
// characters turned into spaces, and the ends trimmed.
func foldText(raw string) string {
	s := norm.NFKC.String(raw)
	s = cases.Fold().String(s) // a Caser keeps state: one per call
	s = norm.NFKC.String(s)
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.Is(unicode.Cf, r):
			return -1
		case unicode.IsControl(r):
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// asciiDigit returns the value of a decimal digit of any script (Unicode
// category Nd) as an ASCII digit. Unicode encodes every such digit in a run
// of ten consecutive code points from zero to nine, so the value is the
// distance from the start of the run, modulo ten where runs adjoin.
func asciiDigit(r rune) (byte, bool) {
	if r >= '0' && r <= '9' {
		return byte(r), true
	}
	if !unicode.IsDigit(r) {
		return 0, false
	}
	z := r
	for unicode.IsDigit(z - 1) {
		z--
	}
	return byte('0' + (r-z)%10), true
}

// isPhoneSeparator reports whether r may stand between the digits of a
// phone number. Dashes other than '-' (en dash and the like) count too.
func isPhoneSeparator(r rune) bool {
	return unicode.IsSpace(r) || strings.ContainsRune("+-()./", r) || unicode.Is(unicode.Pd, r)
}

func looksLikePhone(s string) bool {
	n := 0
	for _, r := range s {
		switch {
		case unicode.IsDigit(r):
			n++
		case !isPhoneSeparator(r):
			return false
		}
	}
	return n >= 6
}

// keepsTrunkZero lists the regions whose national numbers keep their
// leading 0 in the international form (Italy, and San Marino and the
// Vatican, which dial like it).
var keepsTrunkZero = map[string]bool{"IT": true, "SM": true, "VA": true}

func normPhone(s, country string) (string, error) {
	// Digits of any script become ASCII; separators are checked and kept
	// for now, to see where a '+' or "(0)" stands.
	var b strings.Builder
	for _, r := range s {
		if d, ok := asciiDigit(r); ok {
			b.WriteByte(d)
			continue
		}
		if !isPhoneSeparator(r) {
			return "", RefuseInput("phone-characters")
		}
		if r == '+' {
			b.WriteByte('+')
		}
		if r == '(' || r == ')' {
			b.WriteRune(r)
		}
	}
	t := strings.TrimLeft(b.String(), "(")
	international := false
	if rest, ok := strings.CutPrefix(t, "+"); ok {
		international, t = true, rest
	}
	if strings.Contains(t, "+") {
		return "", RefuseInput("phone-plus")
	}
	noParens := strings.NewReplacer("(", "", ")", "")
	digits := noParens.Replace(t)
	if !international && strings.HasPrefix(digits, "00") {
		international = true
		t = strings.Replace(strings.Replace(t, "0", "", 1), "0", "", 1) // the "00"
	}
	if international {
		// "+44 (0)20 …": the trunk 0 some write inside an international number.
		digits = noParens.Replace(strings.Replace(t, "(0)", "", 1))
	}
	if international && strings.HasPrefix(digits, "0") {
		return "", RefuseInput("phone-country-zero")
	}
	if !international {
		if country == "" {
			return "", RefuseInput("phone-needs-country")
		}
		cc, ok := callingCodes[country]
		if !ok {
			return "", RefuseInput("phone-no-calling-code", country)
		}
		if !keepsTrunkZero[country] {
			digits = strings.TrimPrefix(digits, "0")
		}
		switch {
		case cc == "1" && len(digits) == 11 && digits[0] == '1':
			digits = digits[1:] // 1-212-555-0100: NANP's national prefix
		case cc == "7" && len(digits) == 11 && digits[0] == '8':
			digits = digits[1:] // 8 912 345-67-89: the Russian and Kazakh trunk prefix
		}
		digits = cc + digits
	}
	if n := len(digits); n < 7 || n > 15 {
		return "", RefuseInput("phone-digits", n)
	}
	return "+" + digits, nil
}

func normEmail(s string) (string, error) {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || strings.ContainsRune(domain, '@') || strings.ContainsFunc(s, unicode.IsSpace) ||
		!strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", RefuseInput("email-form")
	}
	return s, nil
}

func normID(s string) (string, error) {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if d, ok := asciiDigit(r); ok {
			b.WriteByte(d)
			n++
			continue
		}
		if unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.IsSpace(r) || unicode.Is(unicode.Z, r) {
			continue
		}
		b.WriteRune(r)
		n++
	}
	if n < 3 {
		return "", RefuseInput("id-short")
	}
	return b.String(), nil
}

// nameLetter maps, in a folded name, the letters that are written with or
// without a stroke or dot that Unicode does not encode as a separate mark,
// and the Arabic and Persian forms of one letter that keyboards differ on.
var nameLetter = map[rune]rune{
	'ı': 'i', // Turkish dotless i: "IŞIK" folds to "işik", "Işık" to "işık"
	'ł': 'l',
	'ø': 'o',
	'đ': 'd',
	'ħ': 'h',
	'ى': 'ي', // alef maksura, written for final yeh in Egypt and Sudan
	'ی': 'ي', // Persian yeh
	'ک': 'ك', // Persian keheh
}

// dropsMarks reports whether combining marks (Mn) on base are dropped from a
// name. They are on Latin, Greek and Cyrillic letters, where they are
// accents that people leave out when a keyboard lacks them; and on Arabic
// and Hebrew letters, where they are the vowel points (harakat, niqqud),
// shadda and hamza that ordinary writing mostly leaves out ("أَحْمَد" =
// "أحمد" = "احمد"). Elsewhere — Devanagari and other Indic scripts, Thai,
// and so on — marks are vowel signs and part of the spelling, and are kept.
func dropsMarks(base rune) bool {
	return unicode.In(base, unicode.Latin, unicode.Greek, unicode.Cyrillic, unicode.Arabic, unicode.Hebrew)
}

func normName(s, country string) (string, error) {
	if country == "" {
		return "", RefuseInput("name-needs-country")
	}
	var b strings.Builder
	base := ' '
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			if dropsMarks(base) {
				continue
			}
		case r == 'ـ': // Arabic tatweel (kashida): elongation only
			continue
		case unicode.IsPunct(r) || unicode.IsSymbol(r):
			r = ' '
			base = r
		default:
			if m, ok := nameLetter[r]; ok {
				r = m
			}
			base = r
		}
		b.WriteRune(r)
	}
	words := strings.Fields(norm.NFC.String(b.String()))
	if len(words) == 0 {
		return "", RefuseInput("name-no-letter")
	}
	slices.Sort(words)
	return country + ":" + strings.Join(words, " "), nil
}

// The applicant identifier's refusals (see Refusal).
var _ = DefineRefusals(map[string]string{
	"applicant-long":          "the applicant identifier is %d bytes, longer than the %d read: give one name, phone number, email address or ID number at a time",
	"applicant-not-text":      "the applicant identifier is not valid UTF-8 text: retype it",
	"applicant-country":       "country %q is not an ISO 3166-1 alpha-2 code: use --country with a code such as TZ, KE or NI",
	"applicant-empty":         "the applicant identifier is empty: give a name, phone number, email address or ID number",
	"applicant-nothing-after": "nothing follows %q: give what it names after it",
	"phone-characters":        "a phone number has only digits, spaces and + - ( ) . /: remove anything else (or give it as name: or id:)",
	"phone-plus":              "a '+' belongs only at the start of a phone number: check the number",
	"phone-country-zero":      "a country code never starts with 0: after + or 00 give the country code, or give the local number with --country CC",
	"phone-needs-country":     "a local phone number needs the applicant's country (--country CC) or the international prefix (+…)",
	"phone-no-calling-code":   "%s has no calling code of its own: give the number with its international prefix (+…)",
	"phone-digits":            "a phone number has 7 to 15 digits with its country code, this one %d: check it",
	"email-form":              "an email address is name@domain.tld with one '@' and no spaces: check it",
	"id-short":                "an ID number has at least 3 letters or digits: check it",
	"name-needs-country":      "a name is matched with the applicant's country: add --country CC",
	"name-no-letter":          "a name needs at least one letter: check it",
})
