package pgtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// BinDirEnv names the environment variable that points at the directory
// of the PostgreSQL server binaries (initdb, postgres), ahead of every
// other place they are looked for.
const BinDirEnv = "MESH_PG_BINDIR"

// installHint is what a test says when no PostgreSQL is found.
const installHint = "install the PostgreSQL server (Debian, Ubuntu: apt-get install postgresql; " +
	"Fedora: dnf install postgresql-server) or set " + BinDirEnv + " to the directory holding initdb and postgres"

// binDir returns the directory holding both initdb and postgres, or ""
// and the places looked in.
func binDir() (string, []string) {
	var tried []string
	has := func(dir string) bool {
		tried = append(tried, dir)
		for _, name := range []string{"initdb", "postgres"} {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				return false
			}
		}
		return true
	}
	if dir := os.Getenv(BinDirEnv); dir != "" {
		if has(dir) {
			return dir, nil
		}
		return "", tried // named but wrong: do not fall back silently
	}
	if p, err := exec.LookPath("initdb"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	var dirs []string
	for _, pattern := range []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin"} {
		m, _ := filepath.Glob(pattern)
		sort.Slice(m, func(i, j int) bool { return version(m[i]) > version(m[j]) })
		dirs = append(dirs, m...)
	}
	dirs = append(dirs, "/usr/local/pgsql/bin")
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	return "", tried
}

// version returns the major version in a path such as
// /usr/lib/postgresql/15/bin or /usr/pgsql-16/bin, or 0.
func version(dir string) float64 {
	base := filepath.Base(filepath.Dir(dir))
	base = strings.TrimPrefix(base, "pgsql-")
	v, err := strconv.ParseFloat(base, 64)
	if err != nil {
		return 0
	}
	return v
}

// needBinDir returns the binaries' directory, or skips tb (fails it when
// CI is "true") if there is none.
func needBinDir(tb testing.TB) string {
	tb.Helper()
	dir, tried := binDir()
	if dir != "" {
		return dir
	}
	msg := fmt.Sprintf("pgtest: no PostgreSQL server binaries (initdb and postgres) in %s or PATH: %s",
		strings.Join(tried, ", "), installHint)
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
	return ""
}
