package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"time"
)

// backdate is how long before its making a certificate is valid from: a
// peer whose clock is a little behind accepts it at once.
const backdate = 5 * time.Minute

// Authority is a certificate authority that signs node certificates.
type Authority struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// NewAuthority makes a CA: a new ECDSA P-256 key and a self-signed
// certificate for it, named commonName, valid from now for validity, that
// signs node certificates and no other CA.
func NewAuthority(commonName string, validity time.Duration) (*Authority, error) {
	if validity <= 0 {
		return nil, fmt.Errorf("certs: validity %v is not positive", validity)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: CA key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true, // it signs leaves only
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("certs: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: CA certificate: %w", err)
	}
	return &Authority{cert: cert, key: key}, nil
}

// ParseAuthority reads a CA back from its PEM certificate and key, as PEM
// wrote them. It fails with ErrNotAuthority if the certificate is not a
// CA's or the key is not its key.
func ParseAuthority(certPEM, keyPEM []byte) (*Authority, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%w: no PEM CERTIFICATE block", ErrNotAuthority)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotAuthority, err)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%w: the certificate of %q may not sign certificates", ErrNotAuthority, cert.Subject.CommonName)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, err
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%w: the key is not the certificate's", ErrNotAuthority)
	}
	return &Authority{cert: cert, key: key}, nil
}

// parseKey reads a PEM private key: PKCS #8, or an EC key in SEC 1 form.
func parseKey(keyPEM []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block in the key", ErrNotAuthority)
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%w: PEM block %q is no private key", ErrNotAuthority, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotAuthority, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: a %T cannot sign", ErrNotAuthority, key)
	}
	return signer, nil
}

// Certificate returns the CA's certificate.
func (a *Authority) Certificate() *x509.Certificate { return a.cert }

// PEM returns the CA's certificate and key, PEM-encoded (the key in PKCS
// #8). Keep the key secret: whoever holds it can make a certificate for
// any node.
func (a *Authority) PEM() (certPEM, keyPEM []byte, err error) {
	keyPEM, err = encodeKey(a.key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCert(a.cert.Raw), keyPEM, nil
}

// Issue makes a certificate for the node named node, signed by the CA:
// a new ECDSA P-256 key, valid from now for validity (and no longer than
// the CA), for server and client authentication, naming the node with
// NodeURI and valid for hosts, the IP addresses and DNS names other nodes
// dial it at. It returns the certificate and its key, PEM-encoded.
func (a *Authority) Issue(node string, hosts []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if err := validName(node); err != nil {
		return nil, nil, err
	}
	if validity <= 0 {
		return nil, nil, fmt.Errorf("certs: validity %v is not positive", validity)
	}
	var ips []net.IP
	var dns []string
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
			continue
		}
		if h == "" {
			return nil, nil, errors.New("certs: empty host name")
		}
		dns = append(dns, h)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: node key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	notAfter := now.Add(validity)
	if notAfter.After(a.cert.NotAfter) {
		notAfter = a.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: node},
		NotBefore:    now.Add(-backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{NodeURI(node)},
		IPAddresses:  ips,
		DNSNames:     dns,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: certificate of %q: %w", node, err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCert(der), keyPEM, nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("certs: encode key: %w", err)
	}
	var b bytes.Buffer
	if err := pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// serialNumber draws a random 128-bit serial number, as RFC 5280 asks
// (positive, at most 20 bytes).
func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("certs: serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}
