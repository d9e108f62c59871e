package certs

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// The URI naming a node is uriScheme://uriHost/NAME.
const (
	uriScheme = "mesh"
	uriHost   = "node"
)

// maxNameLen is the longest node name, in bytes, as mesh.Config allows.
const maxNameLen = 128

// NodeURI returns the URI that names node in its certificate:
// mesh://node/NAME, NAME percent-encoded where a URI needs it.
func NodeURI(node string) *url.URL {
	return &url.URL{Scheme: uriScheme, Host: uriHost, Path: "/" + node}
}

// NodeName returns the node that cert names: the NAME of its one
// mesh://node/NAME URI. It fails with ErrNoNode when there is none and
// ErrManyNodes when there are several. It does not verify the certificate:
// only a name read from a verified chain identifies a peer.
func NodeName(cert *x509.Certificate) (string, error) {
	name, found := "", 0
	for _, u := range cert.URIs {
		n, ok := nodeOf(u)
		if !ok {
			continue
		}
		name = n
		found++
	}
	switch found {
	case 0:
		return "", ErrNoNode
	case 1:
		return name, nil
	}
	return "", fmt.Errorf("%w: %d node URIs", ErrManyNodes, found)
}

// nodeOf returns the node a URI names, if it is a node URI.
func nodeOf(u *url.URL) (string, bool) {
	if u.Scheme != uriScheme || u.Host != uriHost || u.User != nil || u.Opaque != "" ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || !strings.HasPrefix(u.Path, "/") {
		return "", false
	}
	name := u.Path[1:]
	if validName(name) != nil {
		return "", false
	}
	return name, true
}

// validName reports whether name can name a node.
func validName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidName)
	case len(name) > maxNameLen:
		return fmt.Errorf("%w: over %d bytes", ErrInvalidName, maxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidName, name)
	}
	return nil
}
