package wire

import (
	"fmt"
	"sync"
	"sync/atomic"

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
	mt, err := messageType(protoreflect.FullName(typeName))
	if err != nil {
		return nil, fmt.Errorf("%w: type %q: %w", ErrBadPayload, typeName, err)
	}
	m := mt.New().Interface()
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadPayload, typeName, err)
	}
	return m, nil
}

// found holds the message types Unpack has found, by full name, copied on
// write. protoregistry's global registry takes a process-wide read lock on
// every lookup, which all the cores decoding messages then share; this
// takes none once a type is known. Only the types linked into the process
// are ever added, so names from the network cannot grow it.
var (
	found   atomic.Pointer[map[protoreflect.FullName]protoreflect.MessageType]
	foundMu sync.Mutex // serialises additions to found
)

// messageType returns the message type of name, as the global registry
// knows it.
func messageType(name protoreflect.FullName) (protoreflect.MessageType, error) {
	if m := found.Load(); m != nil {
		if mt := (*m)[name]; mt != nil {
			return mt, nil
		}
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
	if err != nil {
		return nil, err
	}
	foundMu.Lock()
	defer foundMu.Unlock()
	var old map[protoreflect.FullName]protoreflect.MessageType
	if m := found.Load(); m != nil {
		old = *m
	}
	next := make(map[protoreflect.FullName]protoreflect.MessageType, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[name] = mt
	found.Store(&next)
	return mt, nil
}
