package ident

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/currency"
	"golang.org/x/text/language"

	"github.com/murmurnet/murmur/crdt"
)

// ErrInput matches (errors.Is) every error of this package: each is about
// what a person typed. node.ErrInput is this same error, so the command
// line's exit status 2 covers these too.
var ErrInput = errors.New("invalid input")

type inputError struct{ msg string }

func (e inputError) Error() string        { return e.msg }
func (e inputError) Is(target error) bool { return target == ErrInput }

func inputErr(format string, args ...any) error {
	return inputError{msg: fmt.Sprintf(format, args...)}
}

// isoRegions is ISO 3166-1 alpha-2: the 249 officially assigned codes.
const isoRegions = `AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI
FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR
IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM
MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT
PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM
TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW`

var regionSet = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range strings.Fields(isoRegions) {
		m[c] = true
	}
	return m
}()

// Regions lists the ISO 3166-1 alpha-2 codes Region accepts.
func Regions() []string { return strings.Fields(isoRegions) }

// Region checks and canonicalises an ISO 3166-1 alpha-2 code ("tz" -> "TZ").
func Region(s string) (string, error) {
	c := strings.ToUpper(strings.TrimSpace(s))
	if !regionSet[c] {
		return "", RefuseInput("region-code", s)
	}
	return c, nil
}

// SupportTypes is the documented vocabulary of what members offer and what
// cases need. The first eight are the ones rapid-response mechanisms name
// most; the rest come from the networks' own reviews of their work.
var SupportTypes = []string{
	"emergency-grant", "legal-aid", "relocation", "psychosocial", "digital-security", "medical", "advocacy", "shelter",
	"security-equipment", "trial-monitoring", "family-support", "livelihood", "visa-support", "documentation",
}

// Groups is the documented vocabulary of the defenders members serve.
var Groups = []string{
	"journalists", "women-defenders", "lgbti-defenders", "land-environmental-defenders", "indigenous-defenders",
	"lawyers", "trade-unionists", "students", "artists", "religious-minorities", "disability-rights-defenders",
	"youth-defenders", "community-leaders",
}

func fromVocabulary(kind string, vocab []string, s string) (string, error) {
	w := strings.ToLower(strings.TrimSpace(s))
	if !slices.Contains(vocab, w) {
		return "", inputErr("%q is not a known %s; known: %s", s, kind, strings.Join(vocab, ", "))
	}
	return w, nil
}

// SupportType checks a support type against the vocabulary.
func SupportType(s string) (string, error) { return fromVocabulary("support type", SupportTypes, s) }

// Group checks a group against the vocabulary.
func Group(s string) (string, error) { return fromVocabulary("group", Groups, s) }

// Language checks and canonicalises a BCP 47 tag ("pt-br" -> "pt-BR").
func Language(s string) (string, error) {
	t, err := language.Parse(strings.TrimSpace(s))
	if err != nil || t == language.Und {
		return "", inputErr("language %q is not a BCP 47 tag (for example sw, es, pt-BR)", s)
	}
	c := t.String()
	if crdt.CheckLanguage(c) != nil {
		return "", inputErr("language %q is not a BCP 47 tag (for example sw, es, pt-BR)", s)
	}
	return c, nil
}

// Currency checks an ISO 4217 currency code.
func Currency(s string) (string, error) {
	u, err := currency.ParseISO(strings.TrimSpace(s))
	if err != nil || u == currency.XXX || u == currency.XTS {
		return "", inputErr("currency %q is not an ISO 4217 code (for example USD, EUR, KES)", s)
	}
	return u.String(), nil
}

// Amount parses a non-negative decimal amount with at most two decimals
// into hundredths ("4500", "4500.5", "4,500.50", "4.500,50", "4 500,50",
// "٤٬٥٠٠٫٥٠" -> 450050), with ',' as the usual grouping (AmountWith).
func Amount(s string) (uint64, error) { return AmountWith(s, ',') }

// AmountWith is Amount for people who group thousands with group. Which
// of '.' and ',' separates the decimals is read from the amount: the last
// of the two when both appear; neither when one appears more than once;
// else the one that appears, unless exactly three digits follow it and it
// is group ("1,500" is 1500 in English, "1.500" in Spanish). An amount
// read the other way round would be wrong a thousandfold; read this way,
// it is refused instead (three decimals).
func AmountWith(s string, group rune) (uint64, error) {
	bad := RefuseInput("amount-form", s)
	t := strings.Map(func(r rune) rune {
		switch {
		case r == '٫': // the Arabic decimal separator
			return '.'
		case r == '٬' || r == '\'' || r == '’' || unicode.IsSpace(r): // thousands
			return -1
		}
		return r
	}, ASCIIDigits(s))
	dot, comma := strings.LastIndexByte(t, '.'), strings.LastIndexByte(t, ',')
	var dec byte // the decimal separator, if any
	switch {
	case dot >= 0 && comma >= 0:
		dec = ','
		if dot > comma {
			dec = '.'
		}
	case dot >= 0 || comma >= 0:
		c, at := byte('.'), dot
		if comma >= 0 {
			c, at = ',', comma
		}
		if strings.Count(t, string(c)) == 1 && !(len(t)-at-1 == 3 && rune(c) == group) {
			dec = c
		}
	}
	whole, frac, hasFrac := t, "", false
	if dec != 0 {
		whole, frac, hasFrac = strings.Cut(t, string(dec))
	}
	whole = strings.NewReplacer(".", "", ",", "").Replace(whole)
	if whole == "" || len(frac) > 2 || hasFrac && frac == "" || len(whole) > 15 {
		return 0, bad
	}
	var v uint64
	for _, c := range whole + (frac + "00")[:2] {
		if c < '0' || c > '9' {
			return 0, bad
		}
		v = v*10 + uint64(c-'0')
	}
	if v == 0 {
		return 0, RefuseInput("amount-zero")
	}
	return v, nil
}

// ASCIIDigits writes Arabic-Indic and Persian digits as ASCII ones: a
// number typed the way Arabic or Persian writes it.
func ASCIIDigits(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= '٠' && r <= '٩':
			return '0' + r - '٠'
		case r >= '۰' && r <= '۹':
			return '0' + r - '۰'
		}
		return r
	}, s)
}

// FormatAmount prints hundredths as a decimal ("450050" -> "4500.50").
func FormatAmount(v uint64) string { return fmt.Sprintf("%d.%02d", v/100, v%100) }

// CanonicalList applies check to each element, then sorts and dedupes, as
// the entry format requires.
func CanonicalList(in []string, check func(string) (string, error)) ([]string, error) {
	var out []string
	for _, s := range in {
		if strings.TrimSpace(s) == "" {
			continue
		}
		c, err := check(s)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// The vocabularies' refusals (see Refusal).
var _ = DefineRefusals(map[string]string{
	"region-code": "region %q is not an ISO 3166-1 alpha-2 country code (for example TZ, NI, KE)",
	"amount-form": "amount %q is not a number with at most two decimals (for example 4500 or 4500.50)",
	"amount-zero": "amount must be more than zero",
})
