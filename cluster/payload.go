package cluster

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Pack wraps a user message for the wire.
func Pack(m proto.Message) (*anypb.Any, error) {
	a, err := anypb.New(m)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	return a, nil
}

// Unpack decodes a packed user message. A nil Any, a type this process does
// not link in, or bytes that do not parse yield an error wrapping
// ErrBadPayload.
func Unpack(a *anypb.Any) (proto.Message, error) {
	if a == nil {
		return nil, fmt.Errorf("%w: no payload", ErrBadPayload)
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadPayload, a.GetTypeUrl(), err)
	}
	return m, nil
}
