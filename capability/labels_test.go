package capability

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestValidateLabel(t *testing.T) {
	long := strings.Repeat("a", MaxLabelLen)
	tests := []struct {
		key, value string
		ok         bool
	}{
		{"region", "eu", true},
		{"topology.kubernetes.io/zone", "eu-west-1b", true},
		{long, long, true},
		{"K_1", "V.2", true},
		{"", "eu", false},
		{"region", "", false},
		{long + "a", "eu", false},
		{"region", long + "a", false},
		{"-region", "eu", false},
		{"region", ".eu", false},
		{"/region", "eu", false},
		{"region", "eu/west", false},
		{"re gion", "eu", false},
		{"region", "eu@x", false},
		{"region=eu", "x", false},
		{"region", "e,u", false},
		{"régi", "eu", false},
		{"region", "eu\x00", false},
	}
	for _, tc := range tests {
		err := ValidateLabel(tc.key, tc.value)
		if tc.ok != (err == nil) || err != nil && !errors.Is(err, ErrInvalidLabel) {
			t.Errorf("ValidateLabel(%q, %q) = %v, want ok %v", tc.key, tc.value, err, tc.ok)
		}
	}
	if err := ValidateLabels(map[string]string{"a": "1", "b": ""}); !errors.Is(err, ErrInvalidLabel) {
		t.Errorf("ValidateLabels with an empty value = %v", err)
	}
	if err := ValidateLabels(nil); err != nil {
		t.Errorf("ValidateLabels(nil) = %v", err)
	}
}

func TestUnmet(t *testing.T) {
	labels := map[string]string{"region": "eu", "tier": "gold"}
	if got := Unmet(labels, map[string]string{"region": "eu"}); got != nil {
		t.Errorf("Unmet = %v", got)
	}
	if got := Unmet(labels, map[string]string{"region": "us", "zone": "b", "tier": "gold"}); !slices.Equal(got, []string{"region=us", "zone=b"}) {
		t.Errorf("Unmet = %v", got)
	}
	if !Satisfies(nil, nil) || !Satisfies(labels, map[string]string{}) || Satisfies(nil, map[string]string{"a": "b"}) {
		t.Error("Satisfies wrong on empty inputs")
	}
}

func TestScope(t *testing.T) {
	if got := Scope("game", "eu"); got != "game@eu" {
		t.Fatalf("Scope = %q", got)
	}
	if n, v, ok := Unscope("game@eu"); n != "game" || v != "eu" || !ok {
		t.Fatalf("Unscope = %q %q %v", n, v, ok)
	}
	if n, _, ok := Unscope("game"); n != "game" || ok {
		t.Fatalf("Unscope(game) = %q %v", n, ok)
	}
	for _, name := range []string{"game", "game@eu", "a@" + strings.Repeat("b", MaxNameLen-2)} {
		if err := ValidateTarget(name); err != nil {
			t.Errorf("ValidateTarget(%q) = %v", name, err)
		}
	}
	for _, name := range []string{"", "@eu", "game@", "game@eu@x", "game@e/u", "game@-eu", "ga me@eu", "a@" + strings.Repeat("b", MaxNameLen-1)} {
		if err := ValidateTarget(name); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateTarget(%q) = %v, want ErrInvalidName", name, err)
		}
	}
	// A plain name never holds the separator: only Scope makes one.
	if err := Validate("game@eu"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Validate(game@eu) = %v", err)
	}
	var r Registry[int]
	if err := r.Add(map[string]int{"game@eu": 1}); err != nil {
		t.Errorf("Registry.Add of a scoped name: %v", err)
	}
}
