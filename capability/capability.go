package capability

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
)

// MaxNameLen is the longest capability name, in bytes.
const MaxNameLen = 64

var (
	// ErrInvalidName reports a capability name that is empty, too long or
	// has characters outside [A-Za-z0-9._-].
	ErrInvalidName = errors.New("capability: invalid name")
	// ErrDuplicate reports a name registered twice.
	ErrDuplicate = errors.New("capability: already registered")
)

// Validate returns nil if name is a valid capability name, else an error
// wrapping ErrInvalidName.
func Validate(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("%w: %q must be 1 to %d bytes", ErrInvalidName, name, MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_'
		if !ok {
			return fmt.Errorf("%w: %q has %q at byte %d", ErrInvalidName, name, c, i)
		}
	}
	return nil
}

// Registry maps capability names to values of type T. The zero value is an
// empty registry ready to use.
type Registry[T any] struct {
	mu      sync.Mutex // serialises writers
	entries atomic.Pointer[map[string]T]
}

// Add registers every name in entries, plain or scoped (see
// ValidateTarget). It is all or nothing: if any name is invalid or already
// registered, nothing is added.
func (r *Registry[T]) Add(entries map[string]T) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.load()
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		if err := ValidateTarget(name); err != nil {
			return err
		}
		if _, ok := cur[name]; ok {
			return fmt.Errorf("%w: %q", ErrDuplicate, name)
		}
	}
	next := maps.Clone(cur)
	if next == nil {
		next = make(map[string]T, len(entries))
	}
	maps.Copy(next, entries)
	r.entries.Store(&next)
	return nil
}

// Remove unregisters names and returns those that were registered.
func (r *Registry[T]) Remove(names ...string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := maps.Clone(r.load())
	var removed []string
	for _, n := range names {
		if _, ok := next[n]; ok {
			delete(next, n)
			removed = append(removed, n)
		}
	}
	r.entries.Store(&next)
	return removed
}

// Get returns the value registered under name.
func (r *Registry[T]) Get(name string) (T, bool) {
	v, ok := r.load()[name]
	return v, ok
}

// Names returns the registered names, sorted.
func (r *Registry[T]) Names() []string {
	return slices.Sorted(maps.Keys(r.load()))
}

func (r *Registry[T]) load() map[string]T {
	if p := r.entries.Load(); p != nil {
		return *p
	}
	return nil
}
