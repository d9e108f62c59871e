package cluster

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
)

// MaxMetaSize is memberlist's limit on a node's metadata, in bytes.
// Returning more from the delegate would panic inside memberlist, so Encode
// refuses it.
const MaxMetaSize = 512

// metaVersion is the first byte of every encoded Meta. Version 2 added the
// incarnation, version 3 the label requirement of each capability. A node
// refuses metadata of another version, so nodes of different versions do
// not see each other: a cluster moves to a new version by a full restart,
// not a rolling one.
const metaVersion = 3

const flagDraining = 1 << 0

// Meta is what a node tells the cluster about itself through gossip.
type Meta struct {
	// RemoteAddr is the host:port at which the node's actor remote
	// listens, as other nodes must dial it.
	RemoteAddr string
	// Capabilities are the capabilities the node hosts, sorted.
	Capabilities []string
	// Requires maps a capability of Capabilities to the labels a node must
	// carry to be on its ring, as this node declares them; a capability
	// with no requirement has no entry.
	Requires map[string]map[string]string
	// Labels are free-form key/value pairs (region, zone ...).
	Labels map[string]string
	// Draining is set while the node leaves: it stays a member but owns no
	// shard.
	Draining bool
	// Incarnation is drawn at random at every start of the node. Actor
	// IDs restart from 1 with the process, so a PID is only meaningful
	// together with the incarnation it was made under.
	Incarnation uint64
}

// Encode returns the wire form of m: a version byte, a flags byte, the
// incarnation in 8 bytes (big-endian), then length-prefixed strings: the
// remote address; the capabilities, each followed by the count and the
// key/value pairs of its requirement; the labels. It fails with
// ErrMetaTooLarge past MaxMetaSize.
func (m Meta) Encode() ([]byte, error) {
	b := make([]byte, 0, 64)
	flags := byte(0)
	if m.Draining {
		flags |= flagDraining
	}
	b = append(b, metaVersion, flags)
	b = binary.BigEndian.AppendUint64(b, m.Incarnation)
	b = appendString(b, m.RemoteAddr)
	b = binary.AppendUvarint(b, uint64(len(m.Capabilities)))
	for _, c := range m.Capabilities {
		b = appendString(b, c)
		b = appendLabels(b, m.Requires[c])
	}
	b = appendLabels(b, m.Labels)
	if len(b) > MaxMetaSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d (%d capabilities, %d labels)",
			ErrMetaTooLarge, len(b), MaxMetaSize, len(m.Capabilities), len(m.Labels))
	}
	return b, nil
}

// DecodeMeta parses what Encode produced. Any malformed input yields an
// error wrapping ErrBadMeta, never a panic.
func DecodeMeta(b []byte) (Meta, error) {
	d := decoder{b: b}
	var m Meta
	if v := d.byte(); v != metaVersion {
		return Meta{}, fmt.Errorf("%w: version %d", ErrBadMeta, v)
	}
	flags := d.byte()
	m.Draining = flags&flagDraining != 0
	m.Incarnation = d.uint64()
	m.RemoteAddr = d.string()
	if n := d.count(); n > 0 {
		m.Capabilities = make([]string, 0, n)
		for range n {
			c := d.string()
			if d.err == nil && slices.Contains(m.Capabilities, c) {
				// Two requirements for one capability: which holds?
				d.err = fmt.Errorf("capability %q twice", c)
			}
			m.Capabilities = append(m.Capabilities, c)
			if req := d.labels(); req != nil {
				if m.Requires == nil {
					m.Requires = make(map[string]map[string]string)
				}
				m.Requires[c] = req
			}
		}
	}
	m.Labels = d.labels()
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return Meta{}, fmt.Errorf("%w: %v", ErrBadMeta, d.err)
	}
	return m, nil
}

// appendLabels appends the count of labels and their pairs, in key order.
func appendLabels(b []byte, labels map[string]string) []byte {
	b = binary.AppendUvarint(b, uint64(len(labels)))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		b = appendString(b, k)
		b = appendString(b, labels[k])
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads length-prefixed fields, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.err = fmt.Errorf("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uint64() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.err = fmt.Errorf("truncated")
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads an element count, bounded by the bytes left so that a
// hostile count cannot make us allocate much.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		if d.err == nil {
			d.err = fmt.Errorf("count %d exceeds input", n)
		}
		return 0
	}
	return int(n)
}

// labels reads what appendLabels wrote; nil for none.
func (d *decoder) labels() map[string]string {
	n := d.count()
	if n == 0 {
		return nil
	}
	labels := make(map[string]string, n)
	for range n {
		k := d.string()
		labels[k] = d.string()
	}
	return labels
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = fmt.Errorf("string of %d bytes exceeds input", n)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
