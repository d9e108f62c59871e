package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// User is the database superuser of every Server; it authenticates with
// no password (trust), from loopback only.
const User = "postgres"

// startTimeout bounds how long a server may take to accept connections,
// and stopTimeout how long it may take to exit after SIGQUIT, before the
// test fails.
const (
	startTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
)

// Server is one PostgreSQL server run by the test process: its data
// directory, port and socket directory are its own. Create one with New
// or Shared.
type Server struct {
	bin  string // the directory of initdb and postgres
	dir  string // the temporary directory holding everything below
	data string // the data directory
	sock string // the directory of the Unix socket
	log  string // the server's log file
	cred *syscall.Credential
	port atomic.Int32

	dbs atomic.Int64 // databases made by NewDatabase, for their names

	mu sync.Mutex
	// guards cmd and exited: the running server process, and a channel
	// closed when it has exited; both nil while the server is stopped.
	cmd    *exec.Cmd
	exited chan struct{}
}

// New starts a server of the test's own and stops and removes it when
// the test ends. It skips the test if PostgreSQL is not installed (fails
// it if CI is "true"); see the package documentation.
func New(tb testing.TB) *Server {
	tb.Helper()
	s, err := newServer(tb)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.remove)
	return s
}

// newServer makes a data directory with initdb and starts the server.
func newServer(tb testing.TB) (*Server, error) {
	tb.Helper()
	bin := needBinDir(tb)
	cred, err := serverUser()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "mesh-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Server{
		bin:  bin,
		dir:  dir,
		data: filepath.Join(dir, "data"),
		sock: filepath.Join(dir, "sock"),
		log:  filepath.Join(dir, "server.log"),
		cred: cred,
	}
	if err := s.prepare(); err != nil {
		s.remove()
		return nil, err
	}
	// A port chosen free can be taken by another process before the
	// server binds it: try a few.
	for try := 0; ; try++ {
		port, err := freePort()
		if err != nil {
			s.remove()
			return nil, err
		}
		s.port.Store(int32(port))
		err = s.start()
		if err == nil {
			return s, nil
		}
		if try == 4 || !errors.Is(err, errPortTaken) {
			s.remove()
			return nil, err
		}
	}
}

// prepare makes the directories, owned by the server's user, and the
// data directory.
func (s *Server) prepare() error {
	if err := os.Mkdir(s.sock, 0o700); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if s.cred != nil {
		for _, d := range []string{s.dir, s.sock} {
			if err := os.Chown(d, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
				return fmt.Errorf("pgtest: %w", err)
			}
		}
	}
	var out bytes.Buffer
	cmd := exec.Command(filepath.Join(s.bin, "initdb"),
		"--pgdata", s.data, "--username", User, "--auth", "trust",
		"--encoding", "UTF8", "--no-locale", "--no-sync")
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = s.env()
	cmd.SysProcAttr = sysProcAttr(s.cred, false)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgtest: initdb: %w\n%s", err, out.Bytes())
	}
	return nil
}

// env is the environment of initdb and the server: the test's, with a
// fixed locale so that messages are in English.
func (s *Server) env() []string {
	return append(os.Environ(), "LC_ALL=C", "LANG=C")
}

// errPortTaken reports a server that could not bind its port.
var errPortTaken = errors.New("pgtest: port taken")

// start starts the server process and waits until it accepts
// connections.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("pgtest: server already running")
	}
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logf.Close() // the child has its own descriptor
	logStart, _ := logf.Seek(0, io.SeekEnd)
	port := int(s.port.Load())
	cmd := exec.Command(filepath.Join(s.bin, "postgres"),
		"-D", s.data,
		"-p", strconv.Itoa(port),
		"-k", s.sock,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=300",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = s.env()
	cmd.SysProcAttr = sysProcAttr(s.cred, true)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()

	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-exited:
			msg := s.logSince(logStart)
			if strings.Contains(msg, "Address already in use") {
				return fmt.Errorf("%w: %d", errPortTaken, port)
			}
			return fmt.Errorf("pgtest: postgres exited at start (%v):\n%s", cmd.ProcessState, msg)
		default:
		}
		err := ping(s.URL("postgres"))
		if err == nil {
			s.cmd, s.exited = cmd, exited
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("pgtest: postgres accepts no connection after %v: %w\n%s", startTimeout, err, s.logSince(logStart))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ping connects to url once, with a short timeout.
func ping(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	return c.Close(ctx)
}

// logSince returns the server log from byte off on, at most its last 8 KiB.
func (s *Server) logSince(off int64) string {
	b, err := os.ReadFile(s.log)
	if err != nil {
		return err.Error()
	}
	if off > int64(len(b)) {
		off = 0
	}
	b = b[off:]
	if len(b) > 8<<10 {
		b = b[len(b)-8<<10:]
	}
	return string(b)
}

// Stop stops the server as a crash would: an immediate shutdown
// (SIGQUIT), which ends every connection at once and leaves the data to
// crash recovery at the next Start. It waits until the server has exited.
// Stopping a stopped server does nothing.
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	if err := s.stop(); err != nil {
		tb.Fatal(err)
	}
}

func (s *Server) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	cmd, exited := s.cmd, s.exited
	s.cmd, s.exited = nil, nil
	_ = cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-exited:
		return nil
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("pgtest: postgres did not stop within %v of SIGQUIT; killed", stopTimeout)
	}
}

// Start starts a stopped server again, on the same port and data, and
// waits until it accepts connections: URLs taken before Stop work again.
func (s *Server) Start(tb testing.TB) {
	tb.Helper()
	var err error
	// The port may be held for a moment by connections of the old
	// server that are still closing.
	for try := 0; try < 50; try++ {
		if err = s.start(); !errors.Is(err, errPortTaken) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		tb.Fatal(err)
	}
}

// remove stops the server and removes its directory.
func (s *Server) remove() {
	_ = s.stop()
	_ = os.RemoveAll(s.dir)
}

// Addr returns the server's address, 127.0.0.1:PORT.
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(int(s.port.Load())))
}

// URL returns the connection URL of database on the server, as user
// postgres over TCP with TLS off, e.g.
// postgres://postgres@127.0.0.1:54321/test_1?sslmode=disable. Any
// process on the machine can use it.
func (s *Server) URL(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(User),
		Host:     s.Addr(),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// NewDatabase creates an empty database and returns its URL. The database
// is dropped when the test ends (if the server is running then).
func (s *Server) NewDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), s.dbs.Add(1))
	s.Exec(tb, s.URL("postgres"), "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	tb.Cleanup(func() {
		s.mu.Lock()
		running := s.cmd != nil
		s.mu.Unlock()
		if !running {
			return
		}
		if err := s.exec(s.URL("postgres"), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return s.URL(name)
}

// Exec runs one SQL statement on the database of url (a URL this server
// gave), failing the test if it fails. Tests use it to change rows behind
// a store's back.
func (s *Server) Exec(tb testing.TB, url, sql string, args ...any) {
	tb.Helper()
	if err := s.exec(url, sql, args...); err != nil {
		tb.Fatalf("pgtest: %s: %v", sql, err)
	}
}

func (s *Server) exec(url, sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, sql, args...)
	return err
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
