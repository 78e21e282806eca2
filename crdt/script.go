package crdt

import (
	"fmt"
	"slices"
	"unicode"
	"unicode/utf8"
)

// What a name or title may hold besides printable characters.
//
// Writing real languages needs a few invisible characters; hiding or
// spoofing text needs others. The rule (nameProblem) allows:
//
//   - ZWNJ (U+200C) and ZWJ (U+200D) between two letters or marks of a
//     script in which they change how the text is shaped: Arabic-script
//     (Persian "می‌خواهم" needs ZWNJ), Syriac, N'Ko, Mongolian, the Brahmic
//     scripts of South and South-East Asia (Hindi "क्‍ष", Bengali "র‍্যাব",
//     Sinhala), Tibetan, Myanmar, Khmer. Between Latin letters they change
//     nothing a reader sees, so they are refused there.
//   - ZWJ between two emoji, as in 👩‍⚕️ or 🏳️‍🌈, after any emoji
//     modifiers (skin tones) and variation selectors of the first.
//   - ZWSP (U+200B) between two letters or marks of a script written
//     without spaces between words (Thai, Lao, Khmer, Myanmar), where it
//     marks where a line may break.
//   - A variation selector (U+FE00–FE0F, U+E0100–E01EF, the Mongolian
//     ones) right after a visible base character it modifies.
//   - An emoji tag sequence after 🏴 (subdivision flags such as Scotland's):
//     tag letters or digits, closed by CANCEL TAG (U+E007F).
//   - Bidi isolates (LRI, RLI, FSI) each closed by PDI, nested, within the
//     name: they set a Latin name inside a Persian title, and once closed
//     they cannot reorder anything outside them.
//   - The direction marks LRM, RLM and ALM, one at a time, in a name that
//     holds right-to-left letters: there they keep a number or a final
//     "?" in its place, and messaging apps paste them with Arabic and
//     Persian text. Elsewhere they change nothing a reader sees.
//
// It refuses every control; the bidi embeddings and overrides (LRE, RLE,
// LRO, RLO, PDF): an override shows characters in a different order than
// they are stored, which is how "Trojan Source" text looks like something
// it is not, and isolates do what embeddings did, so nothing real needs
// them in one line; an unclosed isolate or a stray PDI; and every other
// default-ignorable character (soft hyphen, word joiner, Hangul fillers,
// tag characters outside a flag...), which a reader cannot see; and, in
// what this node writes, a name with nothing visible in it at all.
//
// Names written before this rule were checked with unicode.IsPrint only,
// which let through variation selectors without a base and printable
// default-ignorables (Hangul fillers, the combining grapheme joiner). An
// entry received from another node is checked with legacy set (checkName),
// so that an entry valid then stays valid; what this node writes is checked
// strictly (CheckNew).

// bidi isolate and embedding controls
const (
	lre, rle, pdf, lro, rlo = '\u202A', '\u202B', '\u202C', '\u202D', '\u202E'
	lri, rli, fsi, pdi      = '\u2066', '\u2067', '\u2068', '\u2069'
	zwsp, zwnj, zwj         = '\u200B', '\u200C', '\u200D'
	lrm, rlm, alm           = '\u200E', '\u200F', '\u061C'
	blackFlag, cancelTag    = '\U0001F3F4', '\U000E007F'
)

// maxIsolateDepth is the nesting the Unicode bidi algorithm honours.
const maxIsolateDepth = 125

// joining holds the scripts where ZWNJ and ZWJ change the shaping.
var joining = []*unicode.RangeTable{
	unicode.Arabic, unicode.Syriac, unicode.Nko, unicode.Mongolian, unicode.Mandaic,
	unicode.Devanagari, unicode.Bengali, unicode.Gurmukhi, unicode.Gujarati, unicode.Oriya,
	unicode.Tamil, unicode.Telugu, unicode.Kannada, unicode.Malayalam, unicode.Sinhala,
	unicode.Tibetan, unicode.Myanmar, unicode.Khmer, unicode.Tai_Tham, unicode.Balinese,
	unicode.Javanese, unicode.Chakma, unicode.Hanifi_Rohingya,
}

// rightToLeft holds the scripts written right to left, where the direction
// marks LRM, RLM and ALM keep numbers and punctuation in their place.
var rightToLeft = []*unicode.RangeTable{
	unicode.Arabic, unicode.Hebrew, unicode.Syriac, unicode.Thaana, unicode.Nko, unicode.Samaritan,
	unicode.Mandaic, unicode.Adlam, unicode.Hanifi_Rohingya, unicode.Yezidi,
}

// unspaced holds the scripts written without spaces between words.
var unspaced = []*unicode.RangeTable{unicode.Thai, unicode.Lao, unicode.Khmer, unicode.Myanmar}

func isLetterOrMark(r rune) bool { return unicode.IsLetter(r) || unicode.IsMark(r) }

func isVariationSelector(r rune) bool { return unicode.Is(unicode.Variation_Selector, r) }

func isEmojiModifier(r rune) bool { return r >= 0x1F3FB && r <= 0x1F3FF }

// isEmoji approximates Extended_Pictographic with the standard tables: a
// symbol of category So (every emoji base is one), or a regional indicator.
func isEmoji(r rune) bool { return unicode.Is(unicode.So, r) && r > 0xFF }

func isTagSpec(r rune) bool {
	return r >= 0xE0030 && r <= 0xE0039 || r >= 0xE0061 && r <= 0xE007A
}

// base returns the character that rs[i] modifies: the last one before i
// that is neither a variation selector nor an emoji modifier nor a mark,
// or -1.
func base(rs []rune, i int) rune {
	for j := i - 1; j >= 0; j-- {
		r := rs[j]
		if isVariationSelector(r) || isEmojiModifier(r) || unicode.IsMark(r) {
			continue
		}
		return r
	}
	return -1
}

// scriptBefore returns whether the letter that rs[i] follows (skipping
// marks of the Inherited script) belongs to one of tables.
func scriptBefore(rs []rune, i int, tables []*unicode.RangeTable) bool {
	for j := i - 1; j >= 0; j-- {
		r := rs[j]
		if unicode.Is(unicode.Inherited, r) {
			continue
		}
		return isLetterOrMark(r) && unicode.In(r, tables...)
	}
	return false
}

// inScripts reports whether r is a letter or mark of one of tables, or a
// mark of the Inherited script (such as the Arabic vowel signs).
func inScripts(r rune, tables []*unicode.RangeTable) bool {
	return isLetterOrMark(r) && (unicode.In(r, tables...) || unicode.Is(unicode.Inherited, r))
}

// nameProblem returns the index of the first character of s that a name
// may not hold, and why in a reader's words; -1 if there is none.
// legacy: also accept what the rule before this one accepted.
func nameProblem(s string, legacy bool) (int, string) {
	if !utf8.ValidString(s) {
		return notUTF8, "is not readable text (it is not UTF-8): retype it"
	}
	rs := []rune(s)
	rtl := slices.ContainsFunc(rs, func(r rune) bool { return unicode.IsLetter(r) && unicode.In(r, rightToLeft...) })
	// visible: something a reader sees; newer: a character the rule
	// before this one refused, so that the entry cannot be an old one.
	visible, newer := false, false
	var isolates []rune
	inTag := false
	for i, r := range rs {
		prev, next := rune(-1), rune(-1)
		if i > 0 {
			prev = rs[i-1]
		}
		if i+1 < len(rs) {
			next = rs[i+1]
		}
		if unicode.In(r, unicode.L, unicode.N, unicode.P, unicode.S) && !unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) {
			visible = true
		}
		if !unicode.IsPrint(r) && r != ' ' {
			newer = true
		}
		if inTag {
			switch {
			case r == cancelTag:
				inTag = false
				continue
			case isTagSpec(r):
				continue
			}
			return i, "holds an unfinished flag"
		}
		switch {
		case r == zwnj || r == zwj:
			between := scriptBefore(rs, i, joining) && inScripts(next, joining)
			// after a virama (or another mark of such a script) a joiner
			// also ends a word: Malayalam's old chillu "ന്‍".
			virama := prev != -1 && unicode.IsMark(prev) && !unicode.Is(unicode.Inherited, prev) && unicode.In(prev, joining...)
			emoji := r == zwj && isEmoji(base(rs, i)) && isEmoji(next)
			if !between && !virama && !emoji {
				return i, "holds a zero-width joiner or non-joiner outside a word or emoji that needs it"
			}
		case r == zwsp:
			if !(scriptBefore(rs, i, unspaced) && inScripts(next, unspaced)) {
				return i, "holds a zero-width space outside Thai, Lao, Khmer or Myanmar text"
			}
		case isVariationSelector(r):
			b := prev
			if isEmojiModifier(b) || isVariationSelector(b) {
				b = -1 // one selector, right after its base
			}
			if (b == -1 || b == ' ' || !unicode.IsPrint(b) || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, b)) && !legacy {
				return i, "holds a variation selector with no character before it to modify"
			}
		case r == lri || r == rli || r == fsi:
			if len(isolates) == maxIsolateDepth {
				return i, "nests direction isolates too deeply"
			}
			isolates = append(isolates, r)
		case r == pdi:
			if len(isolates) == 0 {
				return i, "closes a direction isolate that was never opened"
			}
			isolates = isolates[:len(isolates)-1]
		case r >= lre && r <= rlo:
			return i, "holds a direction override or embedding, which can make text read differently than it is stored"
		case r == lrm || r == rlm || r == alm:
			if !rtl {
				return i, "holds a direction mark in text with no right-to-left letters, where it only hides"
			}
			if prev == lrm || prev == rlm || prev == alm {
				return i, "holds two direction marks in a row"
			}
		case r == blackFlag && next == 0xE0067: // 🏴 + tag "g...": a subdivision flag
			inTag = true
		case unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) && unicode.IsPrint(r):
			if !legacy {
				return i, "holds an invisible filler character"
			}
		case !unicode.IsPrint(r) && r != ' ':
			if unicode.IsControl(r) {
				return i, "holds a control character"
			}
			return i, "holds an invisible character"
		}
	}
	if inTag {
		return len(rs), "holds an unfinished flag"
	}
	if len(isolates) > 0 {
		return len(rs), "opens a direction isolate it does not close"
	}
	if !visible && len(rs) > 0 && (!legacy || newer) {
		return len(rs), "has nothing a reader can see"
	}
	return -1, ""
}

// notUTF8 is nameProblem's index for text that is not UTF-8 at all.
const notUTF8 = -2

// describe names the character at i of s for an error message.
func describe(s string, i int) string {
	rs := []rune(s)
	if i < 0 || i >= len(rs) {
		return ""
	}
	return fmt.Sprintf(" (U+%04X, character %d)", rs[i], i+1)
}

// checkNameChars applies nameProblem to a name called what.
func checkNameChars(what, s string, legacy bool) error {
	if i, why := nameProblem(s, legacy); i != -1 {
		return invalid("%s %s%s", what, why, describe(s, i))
	}
	return nil
}

// checkUTF8 refuses free text that is not UTF-8, in words, before the
// encoding's own check would call it a malformed field.
func checkUTF8(what, s string) error {
	if !utf8.ValidString(s) {
		return invalid("the %s is not readable text (it is not UTF-8): save or type it again as UTF-8", what)
	}
	return nil
}

// CheckNew checks the names, titles and texts in a body about to be
// written: names with the rule for new text (see nameProblem), which is
// stricter than what is accepted from other nodes for a few characters
// that older versions let through, and organisations' and the network's
// names also with orgNameProblem (see confusable.go); free texts with
// freeTextProblem, and for being UTF-8, so that a person is told which one
// is not in words rather than by a field number.
func CheckNew(b any) error {
	switch b := b.(type) {
	case *Genesis:
		return firstErr(checkOrgName("organisation name", b.OrgName), checkOrgName("network name", b.NetworkName))
	case *Admission:
		return checkOrgName("organisation name", b.Name)
	case *DeviceAdded:
		return checkNameChars("device label", b.Label, false)
	case *DeviceRevoked:
		return checkFreeText("reason", b.Reason)
	case *Directory:
		return firstErr(checkNameChars("name", b.Name, false), checkFreeText("contact", b.Contact))
	case *Request:
		return firstErr(checkNameChars("title", b.Title, false), checkFreeText("text", b.Text))
	case *Response:
		return checkFreeText("text", b.Text)
	case *RequestClosed:
		return checkFreeText("note", b.Note)
	case *Redaction:
		return checkFreeText("reason", b.Reason)
	case *RedactionV2:
		return checkFreeText("reason", b.Reason)
	}
	return nil
}
