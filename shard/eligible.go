package shard

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Requirement returns the labels a node must carry to be on capability's
// ring, as members declare it (Member.Requires), and whether any member
// that is not draining offers the capability.
//
// Every node computes it from the same member list, so every node applies
// the same requirement. When the members offering the capability declare
// different requirements (a mistake: mesh refuses to register one that
// conflicts with a requirement in sight, but two nodes may register at
// once), the requirement declared by most of them holds, and among
// requirements declared by equally many, the least in the canonical order
// of FormatLabels ("" for none first). Members that declared another one
// are on no ring of the capability: there is one ring per capability, and
// never two owners of a shard.
func Requirement(members []Member, capability string) (map[string]string, bool) {
	type count struct {
		requires map[string]string
		n        int
	}
	counts := make(map[string]*count)
	for _, m := range members {
		if m.Draining || !slices.Contains(m.Capabilities, capability) {
			continue
		}
		req := m.Requires[capability]
		key := labelsKey(req)
		if c := counts[key]; c != nil {
			c.n++
		} else {
			counts[key] = &count{requires: req, n: 1}
		}
	}
	if len(counts) == 0 {
		return nil, false
	}
	keys := slices.SortedFunc(maps.Keys(counts), func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b].n, counts[a].n), strings.Compare(a, b))
	})
	req := counts[keys[0]].requires
	if len(req) == 0 {
		return nil, true
	}
	return req, true
}

// Eligible returns the requirement of capability's ring (see Requirement)
// and the members on it, sorted: those that offer the capability, are not
// draining, declare the requirement and carry every label of it.
func Eligible(members []Member, capability string) (requires map[string]string, nodes []string) {
	requires, _ = Requirement(members, capability)
	want := labelsKey(requires)
	for _, m := range members {
		if verdict(m, capability, requires, want).Exclusion == Included {
			nodes = append(nodes, m.Name)
		}
	}
	slices.Sort(nodes)
	return requires, slices.Compact(nodes)
}

// Exclusion says why a member is not on a capability's ring.
type Exclusion int

const (
	// Included: the member is on the ring.
	Included Exclusion = iota
	// NoCapability: the member does not offer the capability.
	NoCapability
	// Draining: the member is leaving and owns no shard.
	Draining
	// MissingLabels: the member lacks labels the ring requires.
	MissingLabels
	// OtherRequirement: the member declared a requirement other than the
	// one that holds (see Requirement).
	OtherRequirement
)

// String returns the exclusion as a short phrase.
func (e Exclusion) String() string {
	switch e {
	case Included:
		return "on the ring"
	case NoCapability:
		return "lacks the capability"
	case Draining:
		return "draining"
	case MissingLabels:
		return "lacks labels"
	case OtherRequirement:
		return "declares another requirement"
	}
	return "unknown"
}

// Verdict says whether one member is on a capability's ring, and if not,
// why.
type Verdict struct {
	Member    string
	Exclusion Exclusion
	// Missing are the required labels the member lacks, "key=value",
	// sorted: set for MissingLabels.
	Missing []string
	// Declared is the requirement the member declared, in the form of
	// FormatLabels: set for OtherRequirement.
	Declared string
}

// Reason returns the verdict as a phrase for an operator: "" when the
// member is on the ring, else "lacks label region=eu", "draining" ...
func (v Verdict) Reason() string {
	switch v.Exclusion {
	case Included:
		return ""
	case MissingLabels:
		if len(v.Missing) == 1 {
			return "lacks label " + v.Missing[0]
		}
		return "lacks labels " + strings.Join(v.Missing, ",")
	case OtherRequirement:
		if v.Declared == "" {
			return "declares no requirement"
		}
		return "declares requirement " + v.Declared
	}
	return v.Exclusion.String()
}

// Explain returns the requirement of capability's ring and a verdict for
// every member, sorted by name: how the ring was formed from members.
// Members of one name after the first are ignored.
func Explain(members []Member, capability string) (requires map[string]string, verdicts []Verdict) {
	requires, _ = Requirement(members, capability)
	want := labelsKey(requires)
	sorted := slices.SortedStableFunc(slices.Values(members), func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	sorted = slices.CompactFunc(sorted, func(a, b Member) bool { return a.Name == b.Name })
	for _, m := range sorted {
		verdicts = append(verdicts, verdict(m, capability, requires, want))
	}
	return requires, verdicts
}

// verdict judges m for the ring of capability whose requirement is
// requires, whose labelsKey is want.
func verdict(m Member, capability string, requires map[string]string, want string) Verdict {
	v := Verdict{Member: m.Name}
	switch {
	case !slices.Contains(m.Capabilities, capability):
		v.Exclusion = NoCapability
	case m.Draining:
		v.Exclusion = Draining
	case labelsKey(m.Requires[capability]) != want:
		v.Exclusion, v.Declared = OtherRequirement, FormatLabels(m.Requires[capability])
	default:
		for _, k := range slices.Sorted(maps.Keys(requires)) {
			if got, ok := m.Labels[k]; !ok || got != requires[k] {
				v.Missing = append(v.Missing, k+"="+requires[k])
			}
		}
		if len(v.Missing) > 0 {
			v.Exclusion = MissingLabels
		}
	}
	return v
}

// FormatLabels returns labels as "k1=v1,k2=v2" in key order, the canonical
// form in which requirements are compared; "" for none.
func FormatLabels(labels map[string]string) string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(labels)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(labels[k])
	}
	return b.String()
}

// labelsKey encodes labels unambiguously, whatever bytes their keys and
// values hold (metadata comes from the network), in key order; "" for
// none.
func labelsKey(labels map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		for _, s := range []string{k, labels[k]} {
			b.WriteString(strconv.Itoa(len(s)))
			b.WriteByte(':')
			b.WriteString(s)
		}
	}
	return b.String()
}

func sameLabels(a, b map[string]string) bool {
	return maps.Equal(a, b)
}
