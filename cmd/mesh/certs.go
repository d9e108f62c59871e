package main

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/meshrun/mesh/certs"
	"github.com/spf13/cobra"
)

// Lifetimes of the development certificates.
const (
	caValidity   = 10 * 365 * 24 * time.Hour
	nodeValidity = 2 * 365 * 24 * time.Hour
)

// The files of a certificate directory.
const (
	caCertFile = "ca.crt"
	caKeyFile  = "ca.key"
)

// fileName is a node name this command makes files of: it stays one file
// name on every system.
var fileName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// certsOptions are the flags of certs and its commands.
type certsOptions struct {
	dir   string
	force bool
}

func certsCommand(o *options) *cobra.Command {
	co := &certsOptions{}
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Make development certificates for mutual TLS between nodes",
		Long: `Make the certificates of a development cluster's transport: a CA, then one
certificate per node, signed by it, naming the node (mesh://node/NAME) and valid
for the hosts other nodes dial it at. A node loads its files with

  cfg.TransportTLS, err = mesh.LoadTLS("DIR/ca.crt", "DIR/NAME.crt", "DIR/NAME.key")

Files are PEM; keys are ECDSA P-256, written with mode 0600. Existing files are
not overwritten unless --force is given.`,
		// It asks no node: the admin endpoint's flags do not apply.
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if co.dir == "" {
				return usageError(errors.New("--dir: no directory given"))
			}
			return nil
		},
	}
	cmd.PersistentFlags().StringVar(&co.dir, "dir", "", "directory of the CA's and the nodes' files (required)")
	cmd.PersistentFlags().BoolVar(&co.force, "force", false, "overwrite existing files")
	cmd.AddCommand(certsCACommand(o, co), certsNodeCommand(o, co))
	return cmd
}

func certsCACommand(o *options, co *certsOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "ca",
		Short: "Make a development CA: DIR/ca.crt and DIR/ca.key",
		Long: `Make a development CA: a new ECDSA P-256 key (DIR/ca.key, mode 0600) and its
self-signed certificate (DIR/ca.crt), valid for ten years, that signs the nodes'
certificates. Every node needs ca.crt; keep ca.key secret, since whoever holds
it can make a certificate for any node.`,
		Args: args(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			ca, err := certs.NewAuthority("mesh development CA", caValidity)
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			certPEM, keyPEM, err := ca.PEM()
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			files := []file{{caCertFile, certPEM, 0o644}, {caKeyFile, keyPEM, 0o600}}
			if err := writeFiles(co.dir, co.force, files); err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			fmt.Fprintf(o.stdout, "wrote %s: the CA's certificate, valid until %s; every node needs it\n",
				filepath.Join(co.dir, caCertFile), ca.Certificate().NotAfter.UTC().Format(time.DateOnly))
			fmt.Fprintf(o.stdout, "wrote %s: the CA's key (mode 0600); keep it secret\n", filepath.Join(co.dir, caKeyFile))
			return nil
		},
	}
}

func certsNodeCommand(o *options, co *certsOptions) *cobra.Command {
	var ips, dns []string
	cmd := &cobra.Command{
		Use:   "node NAME",
		Short: "Make a node's certificate, signed by the CA of DIR: DIR/NAME.crt and DIR/NAME.key",
		Long: `Make a certificate for the node named NAME (its Config.NodeName), signed by the
CA in DIR (mesh certs ca): a new ECDSA P-256 key (DIR/NAME.key, mode 0600) and a
certificate (DIR/NAME.crt), valid for two years, for server and client
authentication, naming the node with the URI mesh://node/NAME, and valid for
the IP addresses (--ip) and DNS names (--dns) other nodes dial it at: the host
of its RemoteAdvertiseAddr, or of RemoteAddr. Without --ip and --dns, for
127.0.0.1 and localhost. NAME is letters, digits, '.', '_' and '-', up to 128
bytes; for other names use package certs.`,
		Example: `  mesh certs node node-1 --dir certs
  mesh certs node node-2 --dir certs --ip 10.0.0.12 --dns node-2.mesh.internal`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(_ *cobra.Command, a []string) error {
			name := a[0]
			if !fileName.MatchString(name) || name == "ca" {
				return usageError(fmt.Errorf("node name %q: want letters, digits, '.', '_' and '-', up to 128 bytes, not \"ca\"", name))
			}
			hosts, err := hostsOf(ips, dns)
			if err != nil {
				return usageError(err)
			}
			caPEM, err := os.ReadFile(filepath.Join(co.dir, caCertFile))
			if err != nil {
				return &exitError{code: exitFailure, err: fmt.Errorf("the CA: %w (make it with mesh certs ca --dir %s)", err, co.dir)}
			}
			caKeyPEM, err := os.ReadFile(filepath.Join(co.dir, caKeyFile))
			if err != nil {
				return &exitError{code: exitFailure, err: fmt.Errorf("the CA: %w", err)}
			}
			ca, err := certs.ParseAuthority(caPEM, caKeyPEM)
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			certPEM, keyPEM, err := ca.Issue(name, hosts, nodeValidity)
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			files := []file{{name + ".crt", certPEM, 0o644}, {name + ".key", keyPEM, 0o600}}
			if err := writeFiles(co.dir, co.force, files); err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			until, err := notAfter(certPEM)
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			fmt.Fprintf(o.stdout, "wrote %s: node %s (%s), for %s, valid until %s\n", filepath.Join(co.dir, files[0].name),
				name, certs.NodeURI(name), strings.Join(hosts, ", "), until.UTC().Format(time.DateOnly))
			fmt.Fprintf(o.stdout, "wrote %s: its key (mode 0600)\n", filepath.Join(co.dir, files[1].name))
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&ips, "ip", nil, "IP address other nodes dial the node at (repeat, or comma-separated)")
	cmd.Flags().StringSliceVar(&dns, "dns", nil, "DNS name other nodes dial the node at (repeat, or comma-separated)")
	return cmd
}

// notAfter returns the end of a PEM certificate's validity.
func notAfter(certPEM []byte) (time.Time, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return time.Time{}, errors.New("no PEM certificate made")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return time.Time{}, err
	}
	return c.NotAfter, nil
}

// hostsOf checks the --ip and --dns values and returns them as one list;
// 127.0.0.1 and localhost if there are none.
func hostsOf(ips, dns []string) ([]string, error) {
	if len(ips) == 0 && len(dns) == 0 {
		return []string{"127.0.0.1", "localhost"}, nil
	}
	var hosts []string
	for _, ip := range ips {
		if net.ParseIP(ip) == nil {
			return nil, fmt.Errorf("--ip %q: not an IP address", ip)
		}
		hosts = append(hosts, ip)
	}
	for _, d := range dns {
		if d == "" || net.ParseIP(d) != nil || strings.ContainsAny(d, " /:") {
			return nil, fmt.Errorf("--dns %q: not a DNS name (IP addresses go in --ip)", d)
		}
		hosts = append(hosts, d)
	}
	return hosts, nil
}

// file is one file to write.
type file struct {
	name string
	data []byte
	mode fs.FileMode
}

// writeFiles writes files into dir, making dir (mode 0700) if need be.
// Without force it writes none of them if any exists.
func writeFiles(dir string, force bool, files []file) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if !force {
		var exist []string
		for _, f := range files {
			path := filepath.Join(dir, f.name)
			if _, err := os.Lstat(path); err == nil {
				exist = append(exist, path)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		switch len(exist) {
		case 0:
		case 1:
			return fmt.Errorf("%s exists already: pass --force to overwrite it", exist[0])
		default:
			return fmt.Errorf("%s exist already: pass --force to overwrite them", strings.Join(exist, " and "))
		}
	}
	for _, f := range files {
		if err := writeFile(dir, f, force); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes f into dir with its mode: without force only if it does
// not exist; with force through a temporary file renamed over the old one,
// so that a key never exists with a wider mode, nor half-written.
func writeFile(dir string, f file, force bool) error {
	path := filepath.Join(dir, f.name)
	if !force {
		out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.mode)
		if err != nil {
			return err
		}
		if _, err := out.Write(f.data); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	}
	tmp, err := os.CreateTemp(dir, "."+f.name+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing is left to remove
	if err := tmp.Chmod(f.mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(f.data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
