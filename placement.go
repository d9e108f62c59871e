package mesh

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/meshrun/mesh/capability"
	"github.com/meshrun/mesh/cluster"
	"github.com/meshrun/mesh/shard"
)

// Scope returns the name under which the processes of a capability split
// by a label (Capability.SplitBy) live in the scope of one value of the
// label: Scope("game", "eu") is "game@eu", the capability "game" on the
// ring of the nodes labelled region=eu when it is split by region. Call
// it with Request.Capability set to that name.
func Scope(name, value string) string { return capability.Scope(name, value) }

// CapacityLabel is the label that gives a node its weight on every ring
// it is on: a node labelled mesh.capacity=2 owns about twice the shards of
// a node of capacity 1, the default. Its value is an integer from 1 to 16.
// Every node reads it from the gossiped labels, so all agree on the
// weights; like every label it changes only with a restart.
const CapacityLabel = "mesh.capacity"

// capacity returns the weight labels give a node: 0 (which placement
// counts as 1) when the label is absent or not a valid capacity.
func capacity(labels map[string]string) int {
	v, ok := labels[CapacityLabel]
	if !ok {
		return 0
	}
	w, err := strconv.Atoi(v)
	if err != nil || w < 1 || w > shard.MaxWeight {
		return 0
	}
	return w
}

// RingMember is one member of the cluster as the placement of a
// capability judged it.
type RingMember struct {
	Name string
	// OnRing is set when the member is on the capability's ring, and
	// Weight is then its weight on it (see CapacityLabel).
	OnRing bool
	Weight int
	// Reason says why a member is not on the ring: "lacks the
	// capability", "draining", "lacks label region=eu", or "declares
	// requirement region=us" when it registered the capability with
	// another requirement than the one that holds (see
	// Capability.Requires). Empty when OnRing.
	Reason string
}

// placed returns members as placement sees them.
func placed(members []cluster.Member) []shard.Member {
	out := make([]shard.Member, 0, len(members))
	for _, m := range members {
		out = append(out, shard.Member{
			Name: m.Name, Capabilities: m.Meta.Capabilities, Labels: m.Meta.Labels,
			Requires: m.Meta.Requires, Draining: m.Meta.Draining, Weight: capacity(m.Meta.Labels),
		})
	}
	return out
}

// explain returns the requirement of capability's ring in r and how each
// member was judged for it.
func (r *routes) explain(capability string) (map[string]string, []RingMember) {
	requires, verdicts := shard.Explain(r.placed, capability)
	ring := r.table.Ring(capability)
	out := make([]RingMember, 0, len(verdicts))
	for _, v := range verdicts {
		m := RingMember{Name: v.Member, OnRing: v.Exclusion == shard.Included, Reason: v.Reason()}
		if m.OnRing && ring != nil {
			m.Weight = ring.Weight(m.Name)
		}
		out = append(out, m)
	}
	return requires, out
}

// maxReasons bounds the members an ErrNoOwner error names.
const maxReasons = 8

// noRing is the error of a request for a capability that has no ring in
// r: ErrNoOwner (which wraps ErrNoNode) when members offer it but none
// may own its shards, else ErrNoNode.
func (r *routes) noRing(name string) error {
	if err, ok := r.unplaced[name]; ok {
		return err
	}
	if base, _, ok := capability.Unscope(name); ok {
		if in := r.scopes[base]; len(in) > 0 {
			return fmt.Errorf("%w: %q (%s is served in scopes %s)", ErrNoNode, name, base, strings.Join(in, ", "))
		}
	}
	return fmt.Errorf("%w: %q", ErrNoNode, name)
}

// scopes returns, for each capability split by a label, the values of
// the label that have a ring in t, sorted.
func scopes(t *shard.Table) map[string][]string {
	var out map[string][]string
	for _, c := range t.Capabilities() { // sorted
		if base, value, ok := capability.Unscope(c); ok {
			if out == nil {
				out = make(map[string][]string)
			}
			out[base] = append(out[base], value)
		}
	}
	return out
}

// unplaced returns the error of every capability that members offer and
// that has no ring in t: ErrNoOwner, naming the requirement and why each
// member that offers it is off the ring (at most maxReasons of them). It
// runs when the placement changes, so that a call to such a capability
// costs no more than a map lookup.
func unplaced(members []shard.Member, t *shard.Table) map[string]error {
	var out map[string]error
	for _, m := range members {
		for _, c := range m.Capabilities {
			if t.Ring(c) != nil || out[c] != nil {
				continue
			}
			if out == nil {
				out = make(map[string]error)
			}
			out[c] = noOwner(members, c)
		}
	}
	return out
}

// noOwner is the ErrNoOwner error of capability c over members.
func noOwner(members []shard.Member, c string) error {
	requires, verdicts := shard.Explain(members, c)
	var why []string
	for _, v := range verdicts {
		if v.Exclusion == shard.NoCapability {
			continue
		}
		if len(why) == maxReasons {
			why = append(why, "...")
			break
		}
		why = append(why, v.Member+" "+v.Reason())
	}
	return fmt.Errorf("%w: %q requires %s: %s", ErrNoOwner, c, orNone(shard.FormatLabels(requires)), strings.Join(why, "; "))
}

// prepare checks c and returns the name it is registered under and its
// requirement, as this node, labelled labels, would gossip them: a
// capability split by a label is registered under its scoped name and
// requires the node's value of the label.
func prepare(c Capability, labels map[string]string) (string, map[string]string, error) {
	if err := capability.Validate(c.Name); err != nil {
		return "", nil, err
	}
	if c.New == nil {
		return "", nil, fmt.Errorf("%w: %q has no New function", ErrInvalidCapability, c.Name)
	}
	if c.MaxActivations < 0 {
		return "", nil, fmt.Errorf("%w: %q has MaxActivations %d", ErrInvalidCapability, c.Name, c.MaxActivations)
	}
	if err := capability.ValidateLabels(c.Requires); err != nil {
		return "", nil, fmt.Errorf("%w: %q: Requires: %w", ErrInvalidCapability, c.Name, err)
	}
	var requires map[string]string
	if len(c.Requires) > 0 {
		requires = maps.Clone(c.Requires)
	}
	if c.SplitBy == "" {
		return c.Name, requires, nil
	}
	value, ok := labels[c.SplitBy]
	if err := capability.ValidateLabel(c.SplitBy, "x"); err != nil {
		return "", nil, fmt.Errorf("%w: %q: SplitBy: %w", ErrInvalidCapability, c.Name, err)
	}
	if !ok {
		return "", nil, fmt.Errorf("%w: %q is split by label %q, which this node does not carry",
			ErrInvalidCapability, c.Name, c.SplitBy)
	}
	if v, ok := requires[c.SplitBy]; ok && v != value {
		return "", nil, fmt.Errorf("%w: %q is split by %s but requires %s=%s, which no node of scope %s=%s carries",
			ErrInvalidCapability, c.Name, c.SplitBy, c.SplitBy, v, c.SplitBy, value)
	}
	name := capability.Scope(c.Name, value)
	if err := capability.ValidateTarget(name); err != nil {
		return "", nil, err
	}
	if requires == nil {
		requires = make(map[string]string, 1)
	}
	requires[c.SplitBy] = value
	return name, requires, nil
}

// conflict returns an error wrapping ErrConflictingRequirement if a member
// of r other than self offers capability with a requirement other than
// requires.
func (r *routes) conflict(self, capability string, requires map[string]string) error {
	for _, m := range r.list {
		if m.Name == self || m.Meta.Draining {
			continue
		}
		for _, c := range m.Meta.Capabilities {
			if c != capability {
				continue
			}
			if theirs := m.Meta.Requires[c]; !maps.Equal(theirs, requires) {
				return fmt.Errorf("%w: %q: %s requires %s, this node %s", ErrConflictingRequirement, capability,
					m.Name, orNone(shard.FormatLabels(theirs)), orNone(shard.FormatLabels(requires)))
			}
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "no labels"
	}
	return s
}

// withScoped returns names and, for each that names a capability this
// node offers split by a label, its scoped name.
func (n *Node) withScoped(names []string) []string {
	out := slices.Clone(names)
	for _, offered := range n.factories.Names() {
		if base, _, ok := capability.Unscope(offered); ok && slices.Contains(names, base) {
			out = append(out, offered)
		}
	}
	return out
}
