package crdt

import (
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Organisation names are how members tell each other apart: in members,
// in --to, in "readable by" under a sealed entry. Two that look the same
// are one impersonating the other. So an organisation's name (and the
// network's) is held to more than a title (orgNameProblem), and two names
// are the same name when their skeletons are (SameName):
//
//   - a variation selector only after an emoji-like base (a symbol, a
//     digit or # or * for a keycap), or an ideographic one after a Han
//     character; after a letter such as the "e" of "Be\uFE0Fta" it
//     changes nothing a reader sees;
//   - a Mongolian free variation selector only after a Mongolian letter;
//   - no word that mixes Latin, Cyrillic and Greek letters: "Bеta" with a
//     Cyrillic "е" is how a name is forged (browsers refuse such domain
//     names for the same reason). A whole word in one script is a name:
//     "Мемориал", "Αλληλεγγύη".
//
// The skeleton sets aside what a reader cannot see or tell apart: the
// default-ignorable characters and variation selectors, compatibility
// forms (NFKC), case, spaces, punctuation and symbols (unless the name is
// made of nothing else), and the Cyrillic and Greek letters that look
// like Latin ones. Lower and upper case look alike differently
// (Greek "ν" looks like "v", its capital "Ν" like "N"), so a name has two
// skeletons, one from its lower case and one from its capitals, and two
// names are the same if either pair is equal.

// lowerLookalike maps lower-case Cyrillic and Greek letters to the Latin
// letter they look like.
var lowerLookalike = map[rune]rune{
	'а': 'a', 'е': 'e', 'о': 'o', 'р': 'p', 'с': 'c', 'у': 'y', 'х': 'x',
	'і': 'i', 'ѕ': 's', 'ј': 'j', 'ԁ': 'd', 'һ': 'h', 'ԛ': 'q', 'ԝ': 'w',
	'ӏ': 'l', 'ү': 'y', 'ѵ': 'v',
	'ο': 'o', 'α': 'a', 'ν': 'v', 'ρ': 'p', 'τ': 't', 'κ': 'k', 'ι': 'i',
	'υ': 'u', 'ϲ': 'c', 'ϳ': 'j',
}

// upperLookalike maps Cyrillic and Greek capitals to the Latin capital
// they look like.
var upperLookalike = map[rune]rune{
	'А': 'A', 'В': 'B', 'Е': 'E', 'К': 'K', 'М': 'M', 'Н': 'H', 'О': 'O',
	'Р': 'P', 'С': 'C', 'Т': 'T', 'Х': 'X', 'У': 'Y', 'І': 'I', 'Ј': 'J',
	'Ѕ': 'S', 'Ԁ': 'D', 'Ԛ': 'Q', 'Ԝ': 'W', 'Ү': 'Y', 'Ӏ': 'I', 'Һ': 'H',
	'Α': 'A', 'Β': 'B', 'Ε': 'E', 'Η': 'H', 'Ι': 'I', 'Κ': 'K', 'Μ': 'M',
	'Ν': 'N', 'Ο': 'O', 'Ρ': 'P', 'Τ': 'T', 'Χ': 'X', 'Υ': 'Y', 'Ζ': 'Z',
	'Ϲ': 'C', 'Ϳ': 'J',
}

// isDefaultIgnorable reports the Default_Ignorable_Code_Point characters
// of Unicode's DerivedCoreProperties, which a reader does not see.
func isDefaultIgnorable(r rune) bool {
	switch {
	case r == 0xAD, r == 0x34F, r == 0x61C, r == 0x115F, r == 0x1160,
		r == 0x17B4, r == 0x17B5, r >= 0x180B && r <= 0x180F,
		r >= 0x200B && r <= 0x200F, r >= 0x202A && r <= 0x202E,
		r >= 0x2060 && r <= 0x206F, r == 0x3164, r >= 0xFE00 && r <= 0xFE0F,
		r == 0xFEFF, r == 0xFFA0, r >= 0xFFF0 && r <= 0xFFF8,
		r >= 0x1BCA0 && r <= 0x1BCA3, r >= 0x1D173 && r <= 0x1D17A,
		r >= 0xE0000 && r <= 0xE0FFF:
		return true
	}
	return isVariationSelector(r)
}

var folder = cases.Fold()

// NameSkeletons returns the two skeletons of an organisation's name (see
// above): from its lower case and from its capitals.
func NameSkeletons(s string) (lower, upper string) {
	s = strings.Map(func(r rune) rune {
		if isDefaultIgnorable(r) {
			return -1
		}
		return r
	}, s)
	if bare := strings.Map(dropMarks, s); bare != "" { // (before NFKC makes "™" "TM")
		s = bare
	}
	s = norm.NFKC.String(s)
	mapWith := func(s string, m map[rune]rune) string {
		return strings.Map(func(r rune) rune {
			if l, ok := m[r]; ok {
				return l
			}
			return r
		}, s)
	}
	finish := func(s string) string {
		s = norm.NFKC.String(folder.String(s))
		// Spaces, punctuation and symbols set aside too: "Xray-Aid",
		// "Xray_Aid", "X r a y Aid" and "Xray Aid™" are "Xray Aid" to a
		// reader in a hurry. A name of nothing else keeps them.
		if bare := strings.Map(dropMarks, s); bare != "" {
			return bare
		}
		return strings.Join(strings.Fields(s), " ")
	}
	lower = finish(mapWith(folder.String(s), lowerLookalike))
	upper = finish(mapWith(strings.ToUpper(s), upperLookalike))
	return lower, upper
}

// dropMarks drops spaces, punctuation and symbols (strings.Map).
func dropMarks(r rune) rune {
	if unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) {
		return -1
	}
	return r
}

// SameName reports whether two organisation names would be taken for one
// another: whether they have a skeleton in common.
func SameName(a, b string) bool {
	al, au := NameSkeletons(a)
	bl, bu := NameSkeletons(b)
	return al == bl || au == bu || shapeSkeleton(a) == shapeSkeleton(b)
}

// shapeLookalike maps the Latin letters and digits that most sans-serif
// fonts draw alike, in either case, to one of them: a capital I, a digit
// one and a small L ("AIpha Fund", "Co11ective"), a zero and a capital O.
var shapeLookalike = map[rune]rune{
	'I': 'l', '1': 'l', 'ǀ': 'l', 'ı': 'i', '0': 'O', 'ȷ': 'j',
}

// shapeSequences are the pairs of small letters that read as one letter
// at a glance ("Gamrna" for "Gamma").
var shapeSequences = strings.NewReplacer("rn", "m", "vv", "w", "VV", "W")

// shapeSkeleton is a name's third skeleton: what a reader sees within one
// script, where case matters ("IDA" and "LDA" are two names; "AIpha" and
// "Alpha" are one). The invisible characters, compatibility forms, spaces,
// punctuation and symbols are set aside as in the other two.
func shapeSkeleton(s string) string {
	s = strings.Map(func(r rune) rune {
		if isDefaultIgnorable(r) {
			return -1
		}
		return r
	}, s)
	s = norm.NFKC.String(s)
	if bare := strings.Map(dropMarks, s); bare != "" {
		s = bare
	} else {
		s = strings.Join(strings.Fields(s), " ")
	}
	s = strings.Map(func(r rune) rune {
		if l, ok := shapeLookalike[r]; ok {
			return l
		}
		return r
	}, s)
	return shapeSequences.Replace(s)
}

// confusableScripts are the scripts whose letters are mistaken for one
// another's within a word.
var confusableScripts = []struct {
	name  string
	table *unicode.RangeTable
}{{"Latin", unicode.Latin}, {"Cyrillic", unicode.Cyrillic}, {"Greek", unicode.Greek}}

// isMongolianFVS reports the Mongolian free variation selectors.
func isMongolianFVS(r rune) bool { return r >= 0x180B && r <= 0x180D || r == 0x180F }

// emojiLikeBase reports whether a variation selector may follow r in an
// organisation's name: after a symbol (☎️, ✈️) or the digit, # or * of a
// keycap it chooses between text and emoji style.
func emojiLikeBase(r rune) bool {
	return unicode.In(r, unicode.S, unicode.P) || r >= '0' && r <= '9' || r == '#' || r == '*'
}

// orgNameProblem returns the index of the first character of an
// organisation's or network's name that makes it look like another name,
// and why; -1 if there is none. It adds to nameProblem.
func orgNameProblem(s string) (int, string) {
	rs := []rune(s)
	for i, r := range rs {
		if !isVariationSelector(r) {
			continue
		}
		b := base(rs, i)
		switch {
		case isMongolianFVS(r):
			if b == -1 || !unicode.Is(unicode.Mongolian, b) {
				return i, "holds a Mongolian variation selector outside Mongolian text, where it only hides"
			}
		case r >= 0xE0100 && r <= 0xE01EF && b != -1 && unicode.Is(unicode.Han, b):
		case b == -1 || !emojiLikeBase(b):
			return i, "holds a variation selector after a letter, where it changes nothing a reader sees and makes the name look like another"
		}
	}
	// words: runs of letters and marks
	start := 0
	for start < len(rs) {
		if !isLetterOrMark(rs[start]) {
			start++
			continue
		}
		end := start
		first := ""
		for end < len(rs) && (isLetterOrMark(rs[end]) || isDefaultIgnorable(rs[end])) {
			r := rs[end]
			for _, sc := range confusableScripts {
				if !unicode.IsLetter(r) || !unicode.Is(sc.table, r) {
					continue
				}
				if first == "" {
					first = sc.name
				} else if first != sc.name {
					return end, "mixes " + first + " and " + sc.name + " letters in one word, which is how a name is made to look like another"
				}
			}
			end++
		}
		start = end
	}
	return -1, ""
}

// checkOrgName applies the rule for new names and then orgNameProblem to
// an organisation's or network's name called what.
func checkOrgName(what, s string) error {
	if err := checkNameChars(what, s, false); err != nil {
		return err
	}
	if i, why := orgNameProblem(s); i != -1 {
		return invalid("%s %s%s", what, why, describe(s, i))
	}
	return nil
}

// freeTextProblem returns the index of the first character of free text
// (a request's text, a response, a reason, a note, a contact) that this
// node does not write, and why; -1 if there is none. Free text is pasted
// from documents and mail, so it keeps everything a language or a layout
// needs (newlines, tabs, joiners, isolates, direction marks, no-break
// spaces, soft hyphens); what it may not hold is what reorders or hides
// text on a member's screen: direction overrides and embeddings, and
// control characters other than newline and tab.
func freeTextProblem(s string) (int, string) {
	for i, r := range []rune(s) {
		switch {
		case r >= lre && r <= rlo:
			return i, "holds a direction override or embedding, which can make text read differently than it is stored"
		case r == '\n' || r == '\t':
		case r < 0x20 || r >= 0x7F && r <= 0x9F:
			return i, "holds a control character (only line breaks and tabs are kept)"
		}
	}
	return -1, ""
}

// checkFreeText checks free text called what that this node writes.
func checkFreeText(what, s string) error {
	if err := checkUTF8(what, s); err != nil {
		return err
	}
	if i, why := freeTextProblem(s); i != -1 {
		return invalid("the %s %s%s", what, why, describe(s, i))
	}
	return nil
}
