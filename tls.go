package mesh

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/meshrun/mesh/certs"
)

// LoadTLS returns a Config.TransportTLS for mutual TLS between nodes,
// from PEM files: caFile holds the certificates of the CA (or CAs) that
// sign the cluster's node certificates, and certFile and keyFile this
// node's certificate (with any intermediate CA certificates after it) and
// its key, as `mesh certs ca` and `mesh certs node` write them. Servers
// and clients are verified against the CA file's certificates only, never
// the system's roots; a node presents its certificate both to the nodes
// it serves and to those it dials; TLS 1.3 is the least version. The
// certificate must name a node (package certs), be signed by the CA and
// be valid now for server and client authentication: otherwise LoadTLS
// fails with ErrInvalidConfig (together with the file's error, if one
// cannot be read). Start checks that it names Config.NodeName. The files
// are read once: a node started with the result keeps its certificate
// until it restarts.
func LoadTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	bad := func(err error) error { return fmt.Errorf("%w: LoadTLS: %w", ErrInvalidConfig, err) }
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, bad(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, bad(fmt.Errorf("%s holds no PEM certificate", caFile))
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, bad(err)
	}
	if pair.Leaf == nil { // parsed by LoadX509KeyPair since Go 1.23
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, bad(fmt.Errorf("%s: %w", certFile, err))
		}
	}
	if _, err := certs.NodeName(pair.Leaf); err != nil {
		return nil, bad(fmt.Errorf("%s: %w", certFile, err))
	}
	inter := x509.NewCertPool()
	for _, der := range pair.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, bad(fmt.Errorf("%s: %w", certFile, err))
		}
		inter.AddCert(c)
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		opts := x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}
		if _, err := pair.Leaf.Verify(opts); err != nil {
			return nil, bad(fmt.Errorf("%s is not a node certificate of the CA in %s: %w", certFile, caFile, err))
		}
	}
	return &tls.Config{
		Certificates: []tls.Certificate{pair},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}, nil
}
