package sqlite

import (
	"fmt"
	"math"

	"github.com/meshrun/mesh/store"
)

// The decoders below read what the driver returns for a column scanned
// into an any: int64 for INTEGER, []byte for BLOB, string for TEXT,
// float64 for REAL, nil for NULL. A row that the schema's CHECKs would
// have refused (a file edited by hand, a damaged page, another program's
// writes) is reported as an error wrapping store.ErrCorrupt, never
// trusted and never a panic.

// corrupt returns the error of a row of k whose column col holds v.
func corrupt(k store.Key, col string, v any, want string) error {
	shown := fmt.Sprintf("%T %v", v, v)
	if b, ok := v.([]byte); ok {
		shown = fmt.Sprintf("BLOB of %d bytes", len(b))
	} else if s, ok := v.(string); ok {
		shown = fmt.Sprintf("TEXT of %d bytes", len(s))
	}
	return fmt.Errorf("%w: sqlite: %q: column %s holds %s; want %s", store.ErrCorrupt, k.String(), col, shown, want)
}

// decodeVersion reads the version and live columns.
func decodeVersion(k store.Key, version, live any) (uint64, bool, error) {
	v, ok := version.(int64)
	if !ok || v < 1 {
		return 0, false, corrupt(k, "version", version, "an integer of at least 1")
	}
	l, ok := live.(int64)
	if !ok || l != 0 && l != 1 {
		return 0, false, corrupt(k, "live", live, "0 or 1")
	}
	return uint64(v), l == 1, nil
}

// decodeRecord reads a whole row. For a tombstone (live = 0) only the
// version counts, and the record returned holds only it.
func decodeRecord(k store.Key, version, live, typ, format, data any) (store.Record, bool, error) {
	v, isLive, err := decodeVersion(k, version, live)
	if err != nil {
		return store.Record{}, false, err
	}
	if !isLive {
		return store.Record{Version: v}, false, nil
	}
	t, ok := typ.([]byte)
	if !ok || len(t) > store.MaxTypeLen {
		return store.Record{}, false, corrupt(k, "type", typ, fmt.Sprintf("a BLOB of at most %d bytes", store.MaxTypeLen))
	}
	f, ok := format.(int64)
	if !ok || f < 0 || f > math.MaxUint32 {
		return store.Record{}, false, corrupt(k, "format", format, "an integer from 0 to 4294967295")
	}
	d, ok := data.([]byte)
	if !ok || len(d) > store.MaxDataLen {
		return store.Record{}, false, corrupt(k, "data", data, fmt.Sprintf("a BLOB of at most %d bytes", store.MaxDataLen))
	}
	return store.Record{Version: v, Type: string(t), Format: uint32(f), Data: d}, true, nil
}
