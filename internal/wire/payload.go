package wire

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Pack encodes a user message for the wire: the full name of its type and
// its bytes.
func Pack(m proto.Message) (typeName string, b []byte, err error) {
	if m == nil {
		return "", nil, fmt.Errorf("%w: no message", ErrBadPayload)
	}
	b, err = proto.Marshal(m)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrBadPayload, err)
	}
	return string(m.ProtoReflect().Descriptor().FullName()), b, nil
}

// Unpack decodes a packed user message. An empty type name, a type this
// process does not link in, or bytes that do not parse yield an error
// wrapping ErrBadPayload.
func Unpack(typeName string, b []byte) (proto.Message, error) {
	if typeName == "" {
		return nil, fmt.Errorf("%w: no payload", ErrBadPayload)
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(typeName))
	if err != nil {
		return nil, fmt.Errorf("%w: type %q: %w", ErrBadPayload, typeName, err)
	}
	m := mt.New().Interface()
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadPayload, typeName, err)
	}
	return m, nil
}
