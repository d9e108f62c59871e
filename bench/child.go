package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"sync"
	"time"
)

// maxNodeLife bounds a node process's life whatever its driver does.
const maxNodeLife = 2 * time.Hour

// runNode is the main of a node process: it serves control commands from
// stdin until stdin closes, replying on fd 3.
func runNode() int {
	out := os.NewFile(3, "control")
	if out == nil {
		fmt.Fprintln(os.Stderr, "node: no control fd")
		return 2
	}
	name := os.Getenv("MESHBENCH_NAME")
	s := &server{name: name, out: out}
	time.AfterFunc(maxNodeLife, func() {
		fmt.Fprintln(os.Stderr, "node: lifetime exceeded")
		os.Exit(3)
	})
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var wg sync.WaitGroup
	for sc.Scan() {
		var cmd command
		if err := json.Unmarshal(sc.Bytes(), &cmd); err != nil {
			fmt.Fprintln(os.Stderr, "node: bad command:", err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.send(s.handle(cmd))
		}()
	}
	// The driver closed stdin: leave quickly.
	s.mu.Lock()
	if s.sess != nil {
		s.sess.close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		if n := s.current(); n != nil {
			n.close(false)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
	}
	return 0
}

// server holds a node process's state.
type server struct {
	name string

	outMu sync.Mutex // guards out
	out   *os.File

	mu   sync.Mutex // guards node, load, prof, sess
	node node
	load *bgLoad
	prof *os.File
	// sess is the spec being run; the driver sends its "phase" commands
	// one after the other, so one command at a time uses it.
	sess *session
}

func (s *server) current() node {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.node
}

func (s *server) send(r reply) {
	b, err := json.Marshal(r)
	if err != nil {
		b, _ = json.Marshal(reply{Seq: r.Seq, Err: err.Error()})
	}
	s.outMu.Lock()
	defer s.outMu.Unlock()
	_, _ = s.out.Write(append(b, '\n'))
}

func (s *server) handle(cmd command) (rep reply) {
	rep.Seq = cmd.Seq
	fail := func(err error) reply {
		rep.Err = err.Error()
		return rep
	}
	if cmd.Op == "start" {
		if cmd.Start == nil {
			return fail(errors.New("start without arguments"))
		}
		n, err := newNode(cmd.Start.Contender)
		if err != nil {
			return fail(err)
		}
		info, err := n.start(*cmd.Start)
		if err != nil {
			return fail(err)
		}
		s.mu.Lock()
		s.node = n
		s.mu.Unlock()
		rep.Info = &info
		return rep
	}
	n := s.current()
	if n == nil {
		return fail(errors.New("no node started"))
	}
	switch cmd.Op {
	case "await":
		a := cmd.Await
		ctx, cancel := context.WithTimeout(context.Background(), seconds(a.Timeout))
		defer cancel()
		if err := n.await(ctx, *a); err != nil {
			return fail(err)
		}
	case "prepare":
		if cmd.Run == nil {
			return fail(errors.New("prepare without a spec"))
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.sess != nil {
			s.sess.close()
		}
		sess, err := newSession(n, s.name, cmd.Run)
		if err != nil {
			return fail(err)
		}
		s.sess = sess
	case "phase":
		s.mu.Lock()
		sess := s.sess
		s.mu.Unlock()
		if sess == nil {
			return fail(errors.New("phase without prepare"))
		}
		r, err := sess.phase(cmd.Phase)
		rep.Phases = []phaseResult{r}
		if err != nil {
			return fail(err)
		}
	case "finish":
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.sess != nil {
			s.sess.close()
			s.sess = nil
		}
	case "cpu":
		rep.CPU = int64(cpuTime())
	case "where":
		ask := n.where
		if cmd.Query != "" {
			m, ok := n.(asker)
			if !ok {
				return fail(errors.New("queries other than where are mesh's and the peer's"))
			}
			ask = func(ctx context.Context, kind, id string) (string, error) { return m.ask(ctx, kind, id, cmd.Query) }
		}
		rep.Owners = where(ask, cmd.Kind, cmd.IDs)
	case "handoffs":
		m, ok := n.(*meshNode)
		if !ok || m.handoffs == nil {
			return fail(errors.New("no handoffs counted"))
		}
		h := m.handoffs.take()
		rep.Handoffs = &h
	case "locate":
		m, ok := n.(*meshNode)
		if !ok {
			return fail(errNoPlacement)
		}
		owners, err := m.locate(cmd.Kind, cmd.IDs)
		if err != nil {
			return fail(err)
		}
		rep.Owners = owners
	case "shards":
		owners, err := n.shards(cmd.Kind)
		if err != nil {
			return fail(err)
		}
		rep.Owners = owners
	case "count":
		rep.Count = n.activations()
	case "loadStart":
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.load != nil {
			return fail(errors.New("a load is running"))
		}
		s.load = startLoad(n, *cmd.Load)
	case "loadStop":
		s.mu.Lock()
		l := s.load
		s.load = nil
		s.mu.Unlock()
		if l == nil {
			return fail(errors.New("no load running"))
		}
		sum := l.stop(*cmd.Load)
		rep.Load = &sum
	case "loadPeek":
		s.mu.Lock()
		l := s.load
		s.mu.Unlock()
		if l == nil {
			return fail(errors.New("no load running"))
		}
		sum := l.summary(*cmd.Load)
		rep.Load = &sum
	case "profile":
		s.mu.Lock()
		defer s.mu.Unlock()
		if cmd.Path == "" {
			if s.prof != nil {
				pprof.StopCPUProfile()
				s.prof.Close()
				s.prof = nil
			}
			return rep
		}
		f, err := os.Create(cmd.Path)
		if err != nil {
			return fail(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fail(err)
		}
		s.prof = f
	case "close":
		n.close(cmd.Graceful)
		if m, ok := n.(*meshNode); ok && m.handoffs != nil {
			h := m.handoffs.take()
			rep.Handoffs = &h
		}
	default:
		return fail(fmt.Errorf("unknown op %q", cmd.Op))
	}
	return rep
}

// asker is a node whose processes take queries besides whereQuery.
type asker interface {
	ask(ctx context.Context, kind, id, query string) (string, error)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// where asks every ID, 64 at a time, through ask (a node's where, or a
// query of mesh's), and returns each answer, "" where the call failed.
func where(ask func(ctx context.Context, kind, id string) (string, error), kind string, ids []string) []string {
	owners := make([]string, len(ids))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if who, err := ask(ctx, kind, id); err == nil {
				owners[i] = who
			}
		}()
	}
	wg.Wait()
	return owners
}
