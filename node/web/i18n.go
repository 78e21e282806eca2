package web

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// The interface's words live in catalogues, one file a language
// (locales/xx.json): a new language is one file. Each message is a
// format for golang.org/x/text/message, which writes numbers the
// language's way.

type catalogue struct {
	Tag      string            `json:"tag"`
	Name     string            `json:"name"` // the language's own name for itself
	Dir      string            `json:"dir"`  // ltr or rtl
	DateTime string            `json:"date_time"`
	Messages map[string]string `json:"messages"`
	tag      language.Tag
	printer  *message.Printer
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

// Time is t in local time, written the language's way.
func (c *catalogue) Time(t time.Time) string { return t.Local().Format(c.DateTime) }

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
		c.printer = message.NewPrinter(c.tag)
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
	if !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") || strings.ContainsAny(back, "\\\r\n") {
		back = "/"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
