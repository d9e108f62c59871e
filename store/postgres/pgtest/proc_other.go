//go:build !linux

package pgtest

import (
	"errors"
	"os"
	"syscall"
)

// serverUser returns nil: off Linux, the test's own user runs PostgreSQL,
// and it must not be root.
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() == 0 {
		return nil, errors.New("pgtest: PostgreSQL refuses to run as root; run the tests as another user")
	}
	return nil, nil
}

// sysProcAttr returns nil: off Linux the server is not stopped when the
// test process dies, so a killed test run may leave it running.
func sysProcAttr(*syscall.Credential, bool) *syscall.SysProcAttr { return nil }
