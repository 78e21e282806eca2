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
	// The other way round, spaced, in Arabic digits: the decimals are read
	// from the amount, and an amount that could be wrong a thousandfold is
	// refused.
	for in, want := range map[string]uint64{"4.500,50": 450050, "4 500,50": 450050, "4\u202f500,5": 450050, "4,5": 450, "4,50": 450,
		"1,500": 150000, "1.000.000": 100000000, "1,000,000.25": 100000025, "٤٬٥٠٠٫٥٠": 450050, "۱۲۰۰": 120000, "4'500": 450000} {
		if got, err := Amount(in); err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for in, want := range map[string]uint64{"1.500": 150000, "1.500,25": 150025, "1500.25": 150025, "1,5": 150} {
		if got, err := AmountWith(in, '.'); err != nil || got != want {
			t.Errorf("grouped with '.': %q: %d %v, want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"1,500", "1.2.3,456", "4,5.5.5"} {
		if v, err := AmountWith(in, '.'); !errors.Is(err, ErrInput) {
			t.Errorf("grouped with '.': %q read as %d", in, v)
		}
	}
	if FormatAmount(450050) != "4500.50" {
		t.Fatal(FormatAmount(450050))
	}
}
