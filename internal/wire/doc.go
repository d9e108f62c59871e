// Package wire is the format of what mesh nodes send each other: the
// Envelope of a Call or Cast, its Reply, the Ping and Pong of a probe, and
// the codec that carries a user payload once, as its bytes and the full
// name of its type.
//
// Every message here arrives from the network. The transport bounds its
// size before decoding it; decoding never panics (the fuzz targets in
// this package and in internal/transport check it), and a payload whose
// type this node does not know fails that one message with a Failure of
// CODE_BAD_PAYLOAD.
package wire
