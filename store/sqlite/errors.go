package sqlite

import (
	"errors"
	"fmt"
	"time"
)

// ErrBusy reports that the database stayed locked by another connection,
// in this process or another, for longer than the busy timeout. It comes
// as a *BusyError. Nothing was written: the caller may try again.
var ErrBusy = errors.New("sqlite: database locked past the busy timeout")

// BusyError is the error of a write (or an Open) that waited the whole
// busy timeout for the database's write lock. It wraps ErrBusy and the
// driver's error (SQLITE_BUSY).
type BusyError struct {
	// Op is "open", "load", "save" or "delete".
	Op string
	// Key is the key of the operation, as Key.String writes it, or the
	// path for Open.
	Key string
	// Timeout is the busy timeout the operation waited.
	Timeout time.Duration
	// Err is the driver's error.
	Err error
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("sqlite: %s %q: database locked by another connection for more than the busy timeout of %v: %v", e.Op, e.Key, e.Timeout, e.Err)
}

// Unwrap returns ErrBusy and the driver's error.
func (e *BusyError) Unwrap() []error { return []error{ErrBusy, e.Err} }
