// Package secure is how the example programs take a cluster's secrets,
// and how their demos make them: a gossip key from the environment
// (never the command line, where other users of the machine can read
// it), and the CA and node certificates of the transport from a
// directory laid out as `mesh certs` writes it.
package secure

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/meshrun/mesh"
	"github.com/meshrun/mesh/certs"
)

// GossipKeyEnv names the environment variable that holds the cluster's
// gossip key, in base64 (16, 24 or 32 bytes).
const GossipKeyEnv = "MESH_GOSSIP_KEY"

// Label is the cluster label the examples use when secured.
const Label = "mesh-example"

// Apply secures cfg, a node named cfg.NodeName, as the environment and
// tlsDir say: Configure with the key in $MESH_GOSSIP_KEY.
func Apply(cfg *mesh.Config, tlsDir string) (bool, error) {
	return Configure(cfg, os.Getenv(GossipKeyEnv), tlsDir)
}

// Configure secures cfg, a node named cfg.NodeName: with gossipKey set
// (base64), gossip is sealed with that key and labelled Label; with tlsDir
// set, the transport uses mutual TLS with tlsDir/ca.crt and tlsDir/NAME.crt
// and NAME.key. It reports whether anything was secured.
func Configure(cfg *mesh.Config, gossipKey, tlsDir string) (bool, error) {
	secured := false
	if gossipKey != "" {
		key, err := mesh.ParseGossipKey(gossipKey)
		if err != nil {
			return false, fmt.Errorf("gossip key: %w", err)
		}
		cfg.GossipKeys, cfg.ClusterLabel = [][]byte{key}, Label
		secured = true
	}
	if tlsDir != "" {
		tc, err := mesh.LoadTLS(filepath.Join(tlsDir, "ca.crt"),
			filepath.Join(tlsDir, cfg.NodeName+".crt"), filepath.Join(tlsDir, cfg.NodeName+".key"))
		if err != nil {
			return false, err
		}
		cfg.TransportTLS = tc
		secured = true
	}
	return secured, nil
}

// Make writes, into dir, a development CA and a certificate for each of
// nodes, valid for 127.0.0.1 and localhost for a day, and returns a new
// gossip key in base64, for a demo that secures its cluster.
func Make(dir string, nodes ...string) (gossipKey string, err error) {
	ca, err := certs.NewAuthority("mesh example CA", 24*time.Hour)
	if err != nil {
		return "", err
	}
	caPEM, _, err := ca.PEM()
	if err != nil {
		return "", err
	}
	files := map[string][]byte{"ca.crt": caPEM}
	for _, n := range nodes {
		cert, key, err := ca.Issue(n, []string{"127.0.0.1", "localhost"}, 24*time.Hour)
		if err != nil {
			return "", err
		}
		files[n+".crt"], files[n+".key"] = cert, key
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return "", err
		}
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", errors.Join(errors.New("make a gossip key"), err)
	}
	return base64.StdEncoding.EncodeToString(key), nil
}
