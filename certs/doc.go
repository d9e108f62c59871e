// Package certs says how a certificate names a mesh node, and makes the
// certificates of a development cluster: a CA and, signed by it, one
// certificate per node for mutual TLS between nodes.
//
// A node certificate names its node with one URI subject alternative name,
// mesh://node/NAME (NAME percent-encoded where a URI needs it; NodeURI
// makes it and NodeName reads it back). A URI rather than a DNS name,
// because a node's name is any UTF-8 text (up to 128 bytes) where a DNS
// name is restricted to letters, digits and hyphens, and because DNS and
// IP names are what TLS matches against the address a peer dials: kept
// apart, a certificate carries both the node's identity and the hosts it is
// reached at, and a node's name never has to be a host name. The scheme is
// not spiffe://, whose paths allow only a few ASCII characters.
//
// The certificates made here are ECDSA P-256, valid for server and client
// authentication, and PEM-encoded (keys in PKCS #8). They are meant for
// development and small clusters: a production cluster can use any CA
// that puts the URI in its nodes' certificates.
//
// # Usage
//
//	ca, err := certs.NewAuthority("mesh development CA", 5*365*24*time.Hour)
//	caPEM, caKeyPEM, err := ca.PEM()
//	certPEM, keyPEM, err := ca.Issue("node-1", []string{"127.0.0.1", "localhost"}, 365*24*time.Hour)
//	// later, with the files read back:
//	ca, err = certs.ParseAuthority(caPEM, caKeyPEM)
//	name, err := certs.NodeName(leaf) // "node-1"
//
// # Concurrency
//
// An Authority is safe for concurrent use; the functions keep no state.
package certs
