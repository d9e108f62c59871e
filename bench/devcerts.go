package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/meshrun/mesh/certs"
)

// maxNodes is the most node processes a workload starts (C4's largest
// cluster; R1's spare is within it).
const maxNodes = 8

// writeDevCerts writes a throwaway CA (ca.crt) and, for node-1 to
// node-<n>, a node certificate and key for 127.0.0.1 into dir, for
// mesh+TLS. They live as long as a run.
func writeDevCerts(dir string, n int) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ca, err := certs.NewAuthority("meshbench dev CA", 24*time.Hour)
	if err != nil {
		return err
	}
	caPEM, _, err := ca.PEM()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), caPEM, 0o600); err != nil {
		return err
	}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("node-%d", i)
		cert, key, err := ca.Issue(name, []string{"127.0.0.1"}, 24*time.Hour)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name+".crt"), cert, 0o600); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name+".key"), key, 0o600); err != nil {
			return err
		}
	}
	return nil
}
