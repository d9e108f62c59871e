package capability

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// MaxLabelLen is the longest label key or value, in bytes. It is
// Kubernetes' limit on a label value, so a node's labels can be copied
// from the labels of the pod or machine it runs on.
const MaxLabelLen = 63

// ErrInvalidLabel reports a label or a label requirement whose key or
// value is empty, too long, or has characters outside the allowed set.
var ErrInvalidLabel = errors.New("capability: invalid label")

// ValidateLabel returns nil if key=value is a valid label, else an error
// wrapping ErrInvalidLabel. A key is 1 to MaxLabelLen bytes of
// [A-Za-z0-9._/-]; a value 1 to MaxLabelLen bytes of [A-Za-z0-9._-]. Both
// begin with a letter or digit. Values have no '/' so that a capability
// scoped by a value (see Scope) still reads as one name.
func ValidateLabel(key, value string) error {
	if err := checkLabelPart("key", key, true); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidLabel, err)
	}
	if err := checkLabelPart("value", value, false); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalidLabel, key, err)
	}
	return nil
}

// ValidateLabels validates every label of labels, in key order, and
// returns the first error.
func ValidateLabels(labels map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if err := ValidateLabel(k, labels[k]); err != nil {
			return err
		}
	}
	return nil
}

func checkLabelPart(what, s string, slash bool) error {
	if s == "" || len(s) > MaxLabelLen {
		return fmt.Errorf("%s %q must be 1 to %d bytes", what, s, MaxLabelLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if i == 0 && !alnum {
			return fmt.Errorf("%s %q must begin with a letter or digit", what, s)
		}
		if !alnum && c != '.' && c != '-' && c != '_' && (c != '/' || !slash) {
			return fmt.Errorf("%s %q has %q at byte %d", what, s, c, i)
		}
	}
	return nil
}

// Satisfies reports whether labels carry every label of requires. An empty
// requirement is satisfied by any labels.
func Satisfies(labels, requires map[string]string) bool {
	return len(Unmet(labels, requires)) == 0
}

// Unmet returns the labels of requires that labels do not carry, as
// "key=value", sorted.
func Unmet(labels, requires map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(requires)) {
		if v, ok := labels[k]; !ok || v != requires[k] {
			out = append(out, k+"="+requires[k])
		}
	}
	return out
}

// ScopeSep separates a capability's name from the label value of its
// scope in a scoped name: "game@eu".
const ScopeSep = '@'

// Scope returns the name of capability name in the scope of a label value:
// name@value. The processes of a capability split by a label (one ring per
// value of the label) are addressed by their scoped names.
func Scope(name, value string) string {
	return name + string(ScopeSep) + value
}

// Unscope splits a scoped name into the capability's name and the label
// value of its scope; ok is false, and name is the whole of scoped, for a
// name that is not scoped.
func Unscope(scoped string) (name, value string, ok bool) {
	i := strings.IndexByte(scoped, ScopeSep)
	if i < 0 {
		return scoped, "", false
	}
	return scoped[:i], scoped[i+1:], true
}

// ValidateTarget returns nil if name may be called: a valid capability
// name (see Validate), or one scoped by a valid label value (see Scope),
// of at most MaxNameLen bytes in all. Its errors wrap ErrInvalidName.
func ValidateTarget(name string) error {
	base, value, ok := Unscope(name)
	if !ok {
		return Validate(name)
	}
	if err := Validate(base); err != nil {
		return err
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: %q must be 1 to %d bytes", ErrInvalidName, name, MaxNameLen)
	}
	if err := checkLabelPart("scope", value, false); err != nil {
		return fmt.Errorf("%w: %q: %w", ErrInvalidName, name, err)
	}
	return nil
}
