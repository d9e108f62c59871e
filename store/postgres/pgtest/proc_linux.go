//go:build linux

package pgtest

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// serverUser returns the credential initdb and the server run under: nil
// (the test's own user) unless the test runs as root, which PostgreSQL
// refuses; then the user postgres, or nobody, with no supplementary
// groups.
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("pgtest: running as root, and there is neither a user postgres nor nobody to run PostgreSQL as")
}

// sysProcAttr runs a child as cred (if not nil) in a process group of its
// own; the server (server true) also gets SIGQUIT, an immediate shutdown,
// if the thread that started it dies.
func sysProcAttr(cred *syscall.Credential, server bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	if server {
		a.Pdeathsig = syscall.SIGQUIT
	}
	return a
}
