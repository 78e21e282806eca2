package ident

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/text/language"
)

func TestRegionListIsISO(t *testing.T) {
	codes := strings.Fields(isoRegions)
	if len(codes) != 249 {
		t.Fatalf("%d codes, ISO 3166-1 assigns 249", len(codes))
	}
	for _, c := range codes {
		r, err := language.ParseRegion(c)
		if err != nil || !r.IsCountry() || r.ISO3() == "ZZZ" {
			t.Errorf("%s is not a country code according to x/text", c)
		}
	}
}

func TestInputVocabulary(t *testing.T) {
	good := []struct {
		fn       func(string) (string, error)
		in, want string
	}{
		{Region, "tz", "TZ"}, {Region, " NI ", "NI"}, {Language, "pt-br", "pt-BR"}, {Language, "SW", "sw"},
		{Currency, "usd", "USD"}, {SupportType, "Legal-Aid", "legal-aid"}, {Group, "journalists", "journalists"},
	}
	for _, g := range good {
		if got, err := g.fn(g.in); err != nil || got != g.want {
			t.Errorf("%q: got %q, %v", g.in, got, err)
		}
	}
	bad := []struct {
		fn func(string) (string, error)
		in string
	}{
		{Region, "XX"}, {Region, "UK"}, {Region, "EU"}, {Region, "TZA"}, {Region, ""}, {Language, "english"},
		{Language, "x-klingon"}, {Currency, "ABC"}, {Currency, "XXX"}, {SupportType, "money"}, {Group, "everyone"},
	}
	for _, b := range bad {
		if _, err := b.fn(b.in); !errors.Is(err, ErrInput) {
			t.Errorf("%q: got %v", b.in, err)
		}
	}
}

func TestAmount(t *testing.T) {
	for in, want := range map[string]uint64{"4500": 450000, "4500.5": 450050, "4,500.50": 450050, "0.01": 1} {
		if got, err := Amount(in); err != nil || got != want {
			t.Errorf("%q: %d %v", in, got, err)
		}
	}
	for _, in := range []string{"", "0", "-5", "1.234", "1.", "abc", "1e5", "9999999999999999"} {
		if _, err := Amount(in); !errors.Is(err, ErrInput) {
			t.Errorf("%q accepted", in)
		}
	}
	if FormatAmount(450050) != "4500.50" {
		t.Fatal(FormatAmount(450050))
	}
}
