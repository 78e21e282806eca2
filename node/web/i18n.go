package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
	"golang.org/x/text/message"
	"golang.org/x/text/number"

	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/ident"
)

// The interface's words live in catalogues, one file a language
// (locales/xx.json): a new language is one file. Each message is a
// format for golang.org/x/text/message, which writes numbers the
// language's way.

type catalogue struct {
	Tag  string `json:"tag"`
	Name string `json:"name"` // the language's own name for itself
	Dir  string `json:"dir"`  // ltr or rtl
	// DateTime and Date are patterns of {weekday}, {day}, {month},
	// {year} and {time}, with the language's names of the months and days
	// (Sunday first).
	DateTime string            `json:"date_time"`
	Date     string            `json:"date"`
	Months   []string          `json:"months"`
	Weekdays []string          `json:"weekdays"`
	Messages map[string]string `json:"messages"`
	tag      language.Tag
	printer  *message.Printer
	zero     rune // the language's digit zero
	group    rune // and its separator of thousands
	fallback *catalogue
}

// T is the message key in this language, with args (the English one if
// this language lacks it; the key itself, visibly, if no language has it).
func (c *catalogue) T(key string, args ...any) string {
	for l := c; l != nil; l = l.fallback {
		if m, ok := l.Messages[key]; ok {
			return c.printer.Sprintf(m, args...)
		}
	}
	return "[" + key + "]"
}

// refusal is the node's refusal r in this language; a time it names is
// written as the language writes times.
func (c *catalogue) refusal(r *node.Refusal) string {
	args := make([]any, len(r.Args))
	for i, a := range r.Args {
		switch v := a.(type) {
		case ident.Moment:
			a = c.Time(v.Time)
		case string:
			a = isolated(v)
		}
		args[i] = a
	}
	return c.T("refusal."+r.Code, args...)
}

// A name or a quotation inside a message (an organisation's name, the
// node's English words) is laid out apart from the message around it, as
// <bdi dir="auto">: a name ending in digits or punctuation is otherwise
// reordered in a right-to-left sentence. The message is text until the page
// writes it (problemHTML), so the name is marked by two characters of
// Unicode's private use area, taken out of the name itself.
const isolateStart, isolateEnd = '\ue000', '\ue001'

// isolated is s marked to be laid out apart.
func isolated(s string) string {
	return string(isolateStart) + strings.Map(func(r rune) rune {
		if r == isolateStart || r == isolateEnd {
			return -1
		}
		return r
	}, s) + string(isolateEnd)
}

// problemHTML is a message for the page, its marked parts as <bdi>.
func problemHTML(msg string) template.HTML {
	h := template.HTMLEscapeString(msg)
	h = strings.ReplaceAll(h, string(isolateStart), `<bdi dir="auto">`)
	h = strings.ReplaceAll(h, string(isolateEnd), `</bdi>`)
	return template.HTML(h) // (escaped, and its marks balanced: isolated)
}

// RegionName is a region's name in this language: the catalogue's
// ("region.SZ"), where CLDR's, which x/text carries, is out of date; else
// CLDR's; else the code.
func (c *catalogue) RegionName(code string) string {
	if m, ok := c.Messages["region."+code]; ok {
		return m
	}
	if r, err := language.ParseRegion(code); err == nil {
		if n := display.Regions(c.tag).Name(r); n != "" {
			return n
		}
	}
	return code
}

// LanguageName is a language's name in this language, or its code.
func (c *catalogue) LanguageName(code string) string {
	if t, err := language.Parse(code); err == nil {
		if n := display.Languages(c.tag).Name(t); n != "" {
			return n
		}
	}
	return code
}

// Time is t in local time, written the language's way.
func (c *catalogue) Time(t time.Time) string { return c.dated(c.DateTime, t.Local()) }

// Day is a calendar date (2026-11-20), written the language's way; what
// is not one is given back as it is.
func (c *catalogue) Day(date string) string {
	t, err := time.Parse("2006-01-02", date)
	if err != nil {
		return date
	}
	return c.dated(c.Date, t)
}

func (c *catalogue) dated(pattern string, t time.Time) string {
	r := strings.NewReplacer("{weekday}", c.Weekdays[t.Weekday()], "{day}", strconv.Itoa(t.Day()),
		"{month}", c.Months[t.Month()-1], "{year}", strconv.Itoa(t.Year()), "{time}", t.Format("15:04"))
	return c.digits(r.Replace(pattern))
}

// digits writes the ASCII digits of s in the language's digits.
func (c *catalogue) digits(s string) string {
	if c.zero == '0' {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return c.zero + r - '0'
		}
		return r
	}, s)
}

// Number is a count, written the language's way.
func (c *catalogue) Number(v int) string { return c.printer.Sprint(number.Decimal(v)) }

// Amount is money in hundredths (node's unit), written the language's way.
func (c *catalogue) Amount(hundredths uint64) string {
	return c.printer.Sprint(number.Decimal(float64(hundredths)/100, number.MinFractionDigits(2), number.MaxFractionDigits(2)))
}

// amount reads an amount typed the language's way (its digits, its
// separators) as node takes it ("4500.50"); ok is false if it is not one.
func (c *catalogue) amount(typed string) (string, bool) {
	v, err := ident.AmountWith(typed, c.group)
	if err != nil {
		return "", false
	}
	return ident.FormatAmount(v), true
}

// badAmount says an amount typed is not one, with an example.
func (c *catalogue) badAmount() string { return c.T("amount.bad", c.Amount(450050)) }

// Hours is a duration given in hours, written the language's way: in
// minutes under an hour ("0.0 h" said nothing of a 20-minute answer).
func (c *catalogue) Hours(h float64) string {
	if h < 1 {
		return c.T("stats.minutes", max(1, int(h*60+0.5)))
	}
	return c.T("stats.hours", h)
}

// Percent is a share (0.4 for 40%), written the language's way.
func (c *catalogue) Percent(share float64) string { return c.printer.Sprint(number.Percent(share)) }

type catalogues struct {
	byTag   map[string]*catalogue
	list    []*catalogue // in the order the language menu shows them
	matcher language.Matcher
}

const langCookie = "murmur_lang"

func loadCatalogues() (*catalogues, error) {
	ents, err := fs.ReadDir(files, "locales")
	if err != nil {
		return nil, err
	}
	cs := &catalogues{byTag: map[string]*catalogue{}}
	var tags []language.Tag
	for _, e := range ents {
		b, err := fs.ReadFile(files, "locales/"+e.Name())
		if err != nil {
			return nil, err
		}
		c := &catalogue{}
		if err := json.Unmarshal(b, c); err != nil {
			return nil, fmt.Errorf("the web interface's catalogue %s: %v", e.Name(), err)
		}
		if c.tag, err = language.Parse(c.Tag); err != nil {
			return nil, fmt.Errorf("the web interface's catalogue %s: %v", e.Name(), err)
		}
		if len(c.Months) != 12 || len(c.Weekdays) != 7 || c.DateTime == "" || c.Date == "" {
			return nil, fmt.Errorf("the web interface's catalogue %s: it needs date_time, date, 12 months and 7 weekdays", e.Name())
		}
		c.printer = message.NewPrinter(c.tag)
		c.zero = []rune(c.printer.Sprint(0))[0]
		c.group = []rune(c.printer.Sprint(number.Decimal(1234)))[1]
		cs.byTag[c.Tag] = c
		cs.list = append(cs.list, c)
	}
	en := cs.byTag["en"]
	if en == nil {
		return nil, fmt.Errorf("the web interface has no English catalogue")
	}
	// English first (the fallback and the matcher's default), then by tag.
	slices.SortFunc(cs.list, func(a, b *catalogue) int {
		switch {
		case a == en:
			return -1
		case b == en:
			return 1
		}
		return strings.Compare(a.Tag, b.Tag)
	})
	for _, c := range cs.list {
		if c != en {
			c.fallback = en
		}
		tags = append(tags, c.tag)
	}
	cs.matcher = language.NewMatcher(tags)
	return cs, nil
}

// choose is the language of a request: the one chosen in the interface,
// else the browser's best match.
func (cs *catalogues) choose(r *http.Request) *catalogue {
	if c, err := r.Cookie(langCookie); err == nil {
		if l := cs.byTag[c.Value]; l != nil {
			return l
		}
	}
	tags, _, _ := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	_, i, _ := cs.matcher.Match(tags...)
	return cs.list[i]
}

// setLanguage keeps the language chosen (a cookie), and goes back.
func (s *Server) setLanguage(w http.ResponseWriter, r *http.Request) {
	if !s.sameOrigin(r) {
		http.Error(w, "", http.StatusForbidden)
		return
	}
	tag := r.PostFormValue("lang")
	if s.cats.byTag[tag] != nil {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: tag, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.opt.TLS, MaxAge: 365 * 24 * 3600})
	}
	back := r.PostFormValue("back")
	if !localPath(back) {
		back = "/"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
