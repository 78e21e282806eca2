package main

import (
	"fmt"
	"github.com/murmurnet/murmur/crdt"
	"strconv"
	"strings"
	"time"
)

// when is a moment for people, in the local time of now's location:
// "today 14:05", "yesterday 09:30", "tomorrow 18:00", "Tue 1 Dec 14:05",
// and the year too when it is not now's: "Mon 30 Nov 2026 14:05".
// --json output keeps RFC 3339 instead.
func when(t, now time.Time) string {
	t = t.In(now.Location())
	clock := t.Format("15:04")
	ty, tm, td := t.Date()
	ny, nm, nd := now.Date()
	day := time.Date(ty, tm, td, 0, 0, 0, 0, time.UTC)
	today := time.Date(ny, nm, nd, 0, 0, 0, 0, time.UTC)
	switch day.Sub(today) {
	case 0:
		return "today " + clock
	case -24 * time.Hour:
		return "yesterday " + clock
	case 24 * time.Hour:
		return "tomorrow " + clock
	}
	if ty != ny {
		return t.Format("Mon 2 Jan 2006 15:04")
	}
	return t.Format("Mon 2 Jan 15:04")
}

// whenText is when for a time as the node's views give it (RFC 3339); text
// that is not one is returned as it is.
func whenText(s string, now time.Time) string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return when(t, now)
}

// wroteText is whenText for when something was written or seen, as its
// writer's clock dated it: a clock a little ahead (within the ten minutes
// nodes let each other's clocks drift) shows as now, not as a time to
// come; one further ahead is shown as dated, and said to be ahead.
func wroteText(s string, now time.Time) string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return wrote(t, now)
}

func wrote(t, now time.Time) string {
	switch ahead := t.Sub(now); {
	case ahead <= 0:
		return when(t, now)
	case ahead <= crdt.MaxDrift*time.Millisecond:
		return when(now, now)
	}
	return when(t, now) + " (by a clock ahead of this computer's)"
}

// plural is a count with its noun: plural(1, "entry") is "1 entry",
// plural(3, "entry") "3 entries", plural(2, "person", "people") "2 people".
// Without many, the plural is made by the usual English rules.
func plural(n int, one string, many ...string) string {
	if n == 1 {
		return "1 " + one
	}
	if len(many) > 0 {
		return fmt.Sprintf("%d %s", n, many[0])
	}
	return fmt.Sprintf("%d %s", n, pluralOf(one))
}

func pluralOf(w string) string {
	switch {
	case strings.HasSuffix(w, "y") && len(w) > 1 && !strings.ContainsRune("aeiou", rune(w[len(w)-2])):
		return w[:len(w)-1] + "ies" // entry, reply
	case strings.HasSuffix(w, "s"), strings.HasSuffix(w, "x"), strings.HasSuffix(w, "ch"), strings.HasSuffix(w, "sh"):
		return w + "es" // address, box, match
	}
	return w + "s"
}

// article is "a" or "an" for the word that follows: "an alert", "a
// referral".
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiouAEIOU", rune(word[0])) {
		return "an"
	}
	return "a"
}

// defaultLimit is the page size of lists.
const defaultLimit = 50

// page returns the items of list after the one whose ID starts with after
// (all of them if after is empty), at most limit of them (0: no limit), and
// how many more follow.
func page[T any](list []T, id func(T) string, after string, limit int) ([]T, int, error) {
	if after != "" {
		a := strings.ToLower(strings.TrimSpace(after))
		i := -1
		for j, x := range list {
			if strings.HasPrefix(id(x), a) {
				if i >= 0 {
					return nil, 0, usagef("--after %s names more than one item in this list: give more characters", after)
				}
				i = j
			}
		}
		if i < 0 {
			return nil, 0, usagef("--after %s: no such item in this list (it may have been filtered out)", after)
		}
		list = list[i+1:]
	}
	if limit == 0 || len(list) <= limit {
		return list, 0, nil
	}
	return list[:limit], len(list) - limit, nil
}

// nextPage is the line under a page that says how many more items follow,
// and the command that shows them: the same command with the same
// filters, after the last item shown; and, from the top, how large a
// --limit shows them all.
func nextPage(more int, what, command string, filters []string, last string, after string, shown int) string {
	cmd := strings.Join(append([]string{"murmur", command}, filters...), " ")
	line := fmt.Sprintf("%s: %s --after %s", plural(more, what), cmd, last)
	if after == "" {
		line += fmt.Sprintf(" (or --limit %d)", shown+more)
	}
	return line
}

// flagArgs are the flags of a filter as a person would type them again:
// name and value, the value quoted if it needs to be.
func flagArgs(pairs ...string) []string {
	var out []string
	for i := 0; i+1 < len(pairs); i += 2 {
		name, v := pairs[i], pairs[i+1]
		switch {
		case v == "" || v == "false":
		case v == "true":
			out = append(out, name)
		case strings.ContainsAny(v, " \t'\"$"):
			out = append(out, name, strconv.Quote(v))
		default:
			out = append(out, name, v)
		}
	}
	return out
}
