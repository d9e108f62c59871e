// Package pgtest runs throwaway PostgreSQL servers for tests: a real
// server, started from the PostgreSQL binaries installed on the machine,
// in a temporary directory, on a loopback port and a socket directory of
// its own, and removed when the test ends.
//
// # Usage
//
// One server per test binary keeps starts few; each test gets a fresh
// database on it:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		url := pgtest.Shared(t).NewDatabase(t)
//		s, err := postgres.Open(t.Context(), url)
//		...
//	}
//
// A test that stops and restarts the server (an outage) takes one of its
// own, so that other tests do not see the outage:
//
//	srv := pgtest.New(t)
//	url := srv.NewDatabase(t)
//	...
//	srv.Stop(t)  // as a crash of the server: immediate shutdown
//	srv.Start(t) // the same data, port and URL
//
// The server listens on 127.0.0.1 with trust authentication for the user
// postgres, so child processes of the test connect with the same URL
// (Server.URL, Server.Addr).
//
// # Finding PostgreSQL
//
// The binaries initdb and postgres are looked up in the directory named by
// the environment variable MESH_PG_BINDIR, then in PATH, then in
// /usr/lib/postgresql/*/bin (Debian and Ubuntu; the highest version wins),
// /usr/pgsql-*/bin and /usr/local/pgsql/bin. If none is found, the test is
// skipped with a note on how to install them (on Debian or Ubuntu:
// apt-get install postgresql), unless the environment variable CI is
// "true": then the test fails, so that a CI machine without PostgreSQL
// does not pass by running nothing.
//
// PostgreSQL refuses to run as root. A test running as root runs initdb
// and the server as the user postgres (or nobody if there is no such
// user), in a temporary directory owned by that user.
//
// The server is a child of the test process and gets SIGQUIT (an
// immediate shutdown) if the test process dies, so a killed test run
// leaves no server behind; it may leave its temporary directory.
//
// # Concurrency
//
// A Server's methods may be called from several goroutines; Stop and
// Start must not race each other.
package pgtest
