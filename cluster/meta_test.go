package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// sampleMetas are realistic metadata values; they also seed the fuzzer.
var sampleMetas = map[string]Meta{
	"zero":      {},
	"addr only": {RemoteAddr: "127.0.0.1:9000"},
	"capabilities": {
		RemoteAddr:   "10.0.0.7:7000",
		Capabilities: []string{"chat", "counter", "game.lobby"},
	},
	"labels": {
		RemoteAddr: "[::1]:7000",
		Labels:     map[string]string{"region": "eu-west-1", "zone": "b", "empty": ""},
	},
	"draining":    {RemoteAddr: "node-3:7000", Draining: true},
	"incarnation": {RemoteAddr: "127.0.0.1:9000", Incarnation: 0xfedcba9876543210},
	"everything": {
		RemoteAddr:   "host.example:65535",
		Capabilities: []string{"a", "b"},
		Labels:       map[string]string{"region": "us", "ünïcode": "välue"},
		Draining:     true,
		Incarnation:  1,
	},
	"empty strings": {Capabilities: []string{""}, Labels: map[string]string{"": ""}},
	"requirements": {
		RemoteAddr:   "10.0.0.7:7000",
		Capabilities: []string{"game@eu", "orders", "plain"},
		Requires: map[string]map[string]string{
			"game@eu": {"region": "eu"},
			"orders":  {"region": "eu", "tier": "gold"},
		},
		Labels: map[string]string{"region": "eu", "tier": "gold"},
	},
}

func TestMetaRoundTrip(t *testing.T) {
	for name, m := range sampleMetas {
		t.Run(name, func(t *testing.T) {
			b, err := m.Encode()
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if len(b) > MaxMetaSize {
				t.Fatalf("Encode returned %d bytes, over MaxMetaSize", len(b))
			}
			got, err := DecodeMeta(b)
			if err != nil {
				t.Fatalf("DecodeMeta: %v", err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip:\n got  %#v\n want %#v", got, m)
			}
			// The encoding is canonical: equal metadata, equal bytes, so
			// memberlist does not gossip an update that changes nothing.
			again, err := got.Encode()
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("re-encoding gave %x, %v; first encoding %x", again, err, b)
			}
		})
	}
}

func TestMetaEmptyCollectionsDecodeNil(t *testing.T) {
	b, err := Meta{RemoteAddr: "a:1", Capabilities: []string{}, Labels: map[string]string{}}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeMeta(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Capabilities != nil || got.Labels != nil || got.RemoteAddr != "a:1" {
		t.Fatalf("got %#v, want addr a:1 and nil collections", got)
	}
}

func TestMetaLabelOrderDoesNotMatter(t *testing.T) {
	labels := map[string]string{}
	for i := range 20 {
		labels["k"+strconv.Itoa(i)] = strconv.Itoa(i)
	}
	first, err := Meta{Labels: labels}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	// Map iteration order varies between runs; the encoding must not.
	for range 20 {
		b, err := Meta{Labels: labels}.Encode()
		if err != nil || !bytes.Equal(b, first) {
			t.Fatalf("encodings of one label map differ: %x vs %x (%v)", b, first, err)
		}
	}
}

func TestMetaDecodeDoesNotAliasInput(t *testing.T) {
	b, err := sampleMetas["everything"].Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeMeta(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 'X'
	}
	if !reflect.DeepEqual(got, sampleMetas["everything"]) {
		t.Fatalf("decoded metadata changed with its input buffer: %#v", got)
	}
}

func TestMetaEncodeSizeLimit(t *testing.T) {
	// An address-only Meta encodes to version, flags, the 8-byte
	// incarnation, a 2-byte length (for 128..16383 bytes), the address and
	// two zero counts: len(addr)+14.
	const overhead = 14
	many := func(n, size int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = strings.Repeat("c", size-len(strconv.Itoa(i))) + strconv.Itoa(i)
		}
		return out
	}
	manyLabels := func(n int) map[string]string {
		out := make(map[string]string, n)
		for i := range n {
			out["label-"+strconv.Itoa(i)] = strings.Repeat("v", 20)
		}
		return out
	}
	// Each requirement of two labels costs 1+7+1+9 + 1+5+1+5 + 1 = 31
	// bytes besides its capability's 1 + 20 + 1.
	requiring := func(caps []string) map[string]map[string]string {
		out := make(map[string]map[string]string, len(caps))
		for _, c := range caps {
			out[c] = map[string]string{"region": "eu-west-1", "tier": "gold"}
		}
		return out
	}
	tests := []struct {
		name    string
		meta    Meta
		tooBig  bool
		wantLen int // when it fits; 0: not checked
	}{
		{"16 capabilities fit", Meta{Capabilities: many(16, 20)}, false, 0},
		{"their requirements do not", Meta{Capabilities: many(16, 20), Requires: requiring(many(16, 20))}, true, 0},
		{"9 with requirements fit", Meta{Capabilities: many(9, 20), Requires: requiring(many(9, 20))}, false, 0},
		{"exactly the limit", Meta{RemoteAddr: strings.Repeat("a", MaxMetaSize-overhead)}, false, MaxMetaSize},
		{"one byte over", Meta{RemoteAddr: strings.Repeat("a", MaxMetaSize-overhead+1)}, true, 0},
		{"draining at the limit", Meta{RemoteAddr: strings.Repeat("a", MaxMetaSize-overhead), Draining: true}, false, MaxMetaSize},
		{"many capabilities", Meta{Capabilities: many(40, 20)}, true, 0},
		{"many labels", Meta{Labels: manyLabels(30)}, true, 0},
		{"huge address", Meta{RemoteAddr: strings.Repeat("x", 1<<20)}, true, 0},
		{"huge label value", Meta{Labels: map[string]string{"k": strings.Repeat("v", 1<<16)}}, true, 0},
		{"10 capabilities of 40 bytes fit", Meta{RemoteAddr: "127.0.0.1:7000", Capabilities: many(10, 40)}, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b []byte
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("Encode panicked: %v", p)
					}
				}()
				b, err = tc.meta.Encode()
			}()
			if tc.tooBig {
				if !errors.Is(err, ErrMetaTooLarge) {
					t.Fatalf("Encode = %d bytes, %v; want ErrMetaTooLarge", len(b), err)
				}
				if b != nil {
					t.Fatalf("Encode returned %d bytes along with its error", len(b))
				}
				return
			}
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if tc.wantLen != 0 && len(b) != tc.wantLen {
				t.Fatalf("Encode = %d bytes, want %d", len(b), tc.wantLen)
			}
			if _, err := DecodeMeta(b); err != nil {
				t.Fatalf("DecodeMeta of a fitting encoding: %v", err)
			}
		})
	}
}

// uv returns the uvarint encoding of v.
func uv(v uint64) []byte { return binary.AppendUvarint(nil, v) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestDecodeMetaRejects(t *testing.T) {
	valid, err := sampleMetas["everything"].Encode()
	if err != nil {
		t.Fatal(err)
	}
	head := []byte{metaVersion, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	tests := []struct {
		name string
		in   []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"version 0", append([]byte{0}, valid[1:]...)},
		{"version 1", append([]byte{1}, valid[1:]...)},
		{"version 2", append([]byte{2}, valid[1:]...)},
		{"version 4", append([]byte{4}, valid[1:]...)},
		{"version 255", append([]byte{255}, valid[1:]...)},
		{"version only", []byte{metaVersion}},
		{"incarnation truncated", []byte{metaVersion, 0, 1, 2, 3}},
		{"no counts", cat(head, uv(0))},
		{"no label count", cat(head, uv(0), uv(0))},
		{"trailing byte", append(bytes.Clone(valid), 0)},
		{"trailing bytes", append(bytes.Clone(valid), "junk"...)},
		{"address longer than input", cat(head, uv(10), []byte("abc"), uv(0), uv(0))},
		{"address length 2^64-1", cat(head, uv(1<<64-1))},
		{"capability count 2^64-1", cat(head, uv(0), uv(1<<64-1))},
		{"capability count 2^31", cat(head, uv(0), uv(1<<31), uv(1), []byte("a"), uv(0))},
		{"capability count above bytes left", cat(head, uv(0), uv(5), uv(1), []byte("a"), uv(0))},
		{"capability length huge", cat(head, uv(0), uv(1), uv(1<<40), []byte("a"), uv(0))},
		{"capability without requirement count", cat(head, uv(0), uv(1), uv(1), []byte("a"))},
		{"requirement count above bytes left", cat(head, uv(0), uv(1), uv(1), []byte("a"), uv(9), uv(0))},
		{"requirement without value", cat(head, uv(0), uv(1), uv(1), []byte("a"), uv(1), uv(1), []byte("k"))},
		{"capability twice", cat(head, uv(0), uv(2), uv(1), []byte("a"), uv(0), uv(1), []byte("a"), uv(1),
			uv(1), []byte("k"), uv(1), []byte("v"), uv(0))},
		{"label count 2^64-1", cat(head, uv(0), uv(0), uv(1<<64-1))},
		{"label count above bytes left", cat(head, uv(0), uv(0), uv(3), uv(1), []byte("k"))},
		{"label without value", cat(head, uv(0), uv(0), uv(1), uv(1), []byte("k"))},
		{"label value length huge", cat(head, uv(0), uv(0), uv(1), uv(1), []byte("k"), uv(1<<62))},
		{"varint overflow", cat(head, bytes.Repeat([]byte{0xff}, 11))},
		{"varint unterminated", cat(head, []byte{0x80, 0x80})},
	}
	// Every proper prefix of a valid encoding is truncated.
	for i := range len(valid) {
		tests = append(tests, struct {
			name string
			in   []byte
		}{"prefix " + strconv.Itoa(i), valid[:i]})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m Meta
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("DecodeMeta panicked: %v", p)
					}
				}()
				m, err = DecodeMeta(tc.in)
			}()
			if !errors.Is(err, ErrBadMeta) {
				t.Fatalf("DecodeMeta(%x) = %#v, %v; want ErrBadMeta", tc.in, m, err)
			}
			if !reflect.DeepEqual(m, Meta{}) {
				t.Fatalf("DecodeMeta returned %#v along with its error", m)
			}
		})
	}
}

func TestDecodeMetaAcceptsHandBuilt(t *testing.T) {
	// Pins the wire format other nodes rely on: version, flags,
	// incarnation, addr, capabilities each with its requirement, labels,
	// each string length-prefixed by a uvarint.
	in := cat([]byte{metaVersion, flagDraining}, []byte{1, 2, 3, 4, 5, 6, 7, 8},
		uv(6), []byte("h:7000"),
		uv(2), uv(1), []byte("a"), uv(0), uv(2), []byte("bc"), uv(1), uv(1), []byte("k"), uv(1), []byte("v"),
		uv(1), uv(1), []byte("k"), uv(1), []byte("v"))
	got, err := DecodeMeta(in)
	if err != nil {
		t.Fatal(err)
	}
	want := Meta{RemoteAddr: "h:7000", Capabilities: []string{"a", "bc"}, Labels: map[string]string{"k": "v"}, Draining: true,
		Requires: map[string]map[string]string{"bc": {"k": "v"}}, Incarnation: 0x0102030405060708}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
	if enc, err := want.Encode(); err != nil || !bytes.Equal(enc, in) {
		t.Fatalf("Encode = %x, %v; want %x", enc, err, in)
	}
}

func FuzzDecodeMeta(f *testing.F) {
	for _, m := range sampleMetas {
		b, err := m.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(append(bytes.Clone(b), 0))
	}
	f.Add([]byte{})
	f.Add([]byte{metaVersion, 0xff, 0, 0, 0})
	f.Add(cat([]byte{metaVersion, 0}, make([]byte, 8), uv(0), uv(1<<63)))
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := DecodeMeta(in)
		if err != nil {
			if !errors.Is(err, ErrBadMeta) {
				t.Fatalf("DecodeMeta error %v does not wrap ErrBadMeta", err)
			}
			return
		}
		enc, err := m.Encode()
		if err != nil {
			// Re-encoding is canonical and never longer than the input, so
			// only an input over the limit can fail to re-encode.
			if errors.Is(err, ErrMetaTooLarge) && len(in) > MaxMetaSize {
				return
			}
			t.Fatalf("Encode of decoded %x (%d bytes): %v", in, len(in), err)
		}
		if len(enc) > len(in) {
			t.Fatalf("re-encoding grew %d → %d bytes", len(in), len(enc))
		}
		m2, err := DecodeMeta(enc)
		if err != nil {
			t.Fatalf("DecodeMeta(Encode(DecodeMeta(%x))): %v", in, err)
		}
		if !reflect.DeepEqual(m2, m) {
			t.Fatalf("unstable: %#v then %#v", m, m2)
		}
		enc2, err := m2.Encode()
		if err != nil || !bytes.Equal(enc2, enc) {
			t.Fatalf("unstable encoding: %x then %x (%v)", enc, enc2, err)
		}
	})
}
