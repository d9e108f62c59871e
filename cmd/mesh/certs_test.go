package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/certs"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func mustCLI(t *testing.T, want int, args ...string) string {
	t.Helper()
	code, out, errOut := cli(args...)
	if code != want {
		t.Fatalf("mesh %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out + errOut
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s is not PEM", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCertsSecureACluster: two commands make what two nodes need to call
// each other over mutual TLS, with mesh.LoadTLS: a CA, and a certificate
// per node that names it and is valid for its hosts; keys are private to
// their owner.
func TestCertsSecureACluster(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	mustCLI(t, exitOK, "certs", "ca", "--dir", dir)
	for _, name := range []string{"a", "b"} {
		mustCLI(t, exitOK, "certs", "node", name, "--dir", dir)
	}
	mustCLI(t, exitOK, "certs", "node", "c", "--dir", dir, "--ip", "127.0.0.1,10.1.2.3", "--ip", "::1", "--dns", "c.mesh.internal")

	for _, f := range []string{"ca.key", "a.key", "b.key", "c.key"} {
		info, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if mode := info.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, mode)
		}
	}
	if ca := readCert(t, filepath.Join(dir, "ca.crt")); !ca.IsCA || ca.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("ca.crt: CA %v, key %v; want an ECDSA CA", ca.IsCA, ca.PublicKeyAlgorithm)
	}
	c := readCert(t, filepath.Join(dir, "c.crt"))
	if name, err := certs.NodeName(c); name != "c" || err != nil {
		t.Errorf("c.crt names %q, %v", name, err)
	}
	var ips []string
	for _, ip := range c.IPAddresses {
		ips = append(ips, ip.String())
	}
	if !slices.Equal(ips, []string{"127.0.0.1", "10.1.2.3", "::1"}) || !slices.Equal(c.DNSNames, []string{"c.mesh.internal"}) {
		t.Errorf("c.crt is for %v and %v", ips, c.DNSNames)
	}
	a := readCert(t, filepath.Join(dir, "a.crt"))
	if len(a.IPAddresses) != 1 || !a.IPAddresses[0].Equal([]byte{127, 0, 0, 1}) || !slices.Equal(a.DNSNames, []string{"localhost"}) {
		t.Errorf("a.crt, made without --ip or --dns, is for %v and %v; want 127.0.0.1 and localhost", a.IPAddresses, a.DNSNames)
	}

	start := func(name string, seeds ...string) *mesh.Node {
		cfg := mesh.DefaultLocalConfig()
		cfg.NodeName, cfg.Seeds = name, seeds
		var err error
		cfg.TransportTLS, err = mesh.LoadTLS(filepath.Join(dir, "ca.crt"), filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"))
		if err != nil {
			t.Fatal(err)
		}
		n, err := mesh.Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = n.Close(ctx)
		})
		err = n.RegisterCapabilities(mesh.Capability{Name: "echo", New: func(string) mesh.Process {
			return mesh.ProcessFunc(func(mesh.Context, proto.Message) (proto.Message, error) { return wrapperspb.String(name), nil })
		}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	na := start("a")
	start("b", na.GossipAddr())
	served := map[string]bool{}
	waitFor(t, 15*time.Second, "calls from a served by both nodes over TLS", func() bool {
		for i := range 20 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			reply, err := na.Call(ctx, mesh.Request{Capability: "echo", ID: fmt.Sprint("id-", i), Payload: wrapperspb.String("x")})
			cancel()
			if err == nil {
				served[reply.(*wrapperspb.StringValue).GetValue()] = true
			}
		}
		return served["a"] && served["b"]
	})
}

// TestCertsDoNotOverwrite: files that exist are kept, and none of a pair
// written, unless --force; a node needs the CA first.
func TestCertsDoNotOverwrite(t *testing.T) {
	dir := t.TempDir()
	mustCLI(t, exitFailure, "certs", "node", "a", "--dir", dir) // no CA yet
	mustCLI(t, exitOK, "certs", "ca", "--dir", dir)
	caCert, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	caKey, _ := os.ReadFile(filepath.Join(dir, "ca.key"))
	if out := mustCLI(t, exitFailure, "certs", "ca", "--dir", dir); !strings.Contains(out, "--force") {
		t.Errorf("refusal to overwrite says %q, want it to mention --force", out)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "ca.key")); !bytes.Equal(again, caKey) {
		t.Fatal("the CA's key was overwritten without --force")
	}
	// One file of a node's pair exists: neither is written.
	if err := os.WriteFile(filepath.Join(dir, "a.key"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, exitFailure, "certs", "node", "a", "--dir", dir)
	if _, err := os.Stat(filepath.Join(dir, "a.crt")); err == nil {
		t.Fatal("a.crt was written while a.key existed")
	}
	mustCLI(t, exitOK, "certs", "node", "a", "--dir", dir, "--force")
	if name, err := certs.NodeName(readCert(t, filepath.Join(dir, "a.crt"))); name != "a" || err != nil {
		t.Fatalf("a.crt after --force names %q, %v", name, err)
	}
	if info, err := os.Stat(filepath.Join(dir, "a.key")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("a.key after --force: %v, %v", info, err)
	}
	mustCLI(t, exitOK, "certs", "ca", "--dir", dir, "--force")
	if again, _ := os.ReadFile(filepath.Join(dir, "ca.crt")); bytes.Equal(again, caCert) {
		t.Fatal("--force kept the old CA")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// TestCertsUsage: what the certs commands refuse before writing anything.
func TestCertsUsage(t *testing.T) {
	dir := t.TempDir()
	mustCLI(t, exitOK, "certs", "ca", "--dir", dir)
	for _, args := range [][]string{
		{"certs", "ca"},
		{"certs", "ca", "extra", "--dir", dir},
		{"certs", "node", "--dir", dir},
		{"certs", "node", "a/b", "--dir", dir},
		{"certs", "node", "ca", "--dir", dir},
		{"certs", "node", "..", "--dir", dir},
		{"certs", "node", "a", "--dir", dir, "--ip", "localhost"},
		{"certs", "node", "a", "--dir", dir, "--dns", "10.0.0.1"},
	} {
		mustCLI(t, exitUsage, args...)
	}
	if files, _ := os.ReadDir(dir); len(files) != 2 {
		t.Fatalf("%d files in the directory, want the CA's 2", len(files))
	}
	mustCLI(t, exitOK, "certs", "--help")
}
