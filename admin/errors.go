package admin

import "errors"

// ErrInvalidOptions reports Options that NewHandler and Listen refuse.
var ErrInvalidOptions = errors.New("admin: invalid options")

// Kinds of error a Node marks its errors with (see Mark), for the endpoint
// to answer with the right HTTP status.
var (
	// ErrInvalid marks a request the node refuses as malformed: 400.
	ErrInvalid = errors.New("admin: invalid request")
	// ErrNotFound marks a request for something the node does not know,
	// such as a member it has not heard of: 404.
	ErrNotFound = errors.New("admin: not found")
	// ErrUnavailable marks a request the node did not act on because it
	// is closing: 503, and a client may send it to another node.
	ErrUnavailable = errors.New("admin: node unavailable")
)

// Mark returns err marked with kind, ErrInvalid, ErrNotFound or
// ErrUnavailable: the result
// matches kind with errors.Is, as well as everything err matches, and has
// err's message. Mark returns nil if err is nil.
func Mark(err, kind error) error {
	if err == nil {
		return nil
	}
	return &marked{err: err, kind: kind}
}

// marked is an error with a kind, which its message does not mention.
type marked struct {
	err, kind error
}

func (m *marked) Error() string   { return m.err.Error() }
func (m *marked) Unwrap() []error { return []error{m.err, m.kind} }
