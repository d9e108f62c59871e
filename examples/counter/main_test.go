package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/meshrun/mesh/actor"
	"github.com/meshrun/mesh/examples/counter/counterpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestMain lets the demo re-execute the test binary as its nodes: with
// childEnv set, the binary is the counter program, not the tests.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestDemo runs the whole demo, three child processes included, and checks
// that every counter answered before and after the stop and the kill,
// that the stopped and the killed node served none afterwards, and that
// every counter kept its count: handed off at the stop, loaded from the
// SQLite file after the kill.
func TestDemo(t *testing.T) {
	t.Run("plain", func(t *testing.T) { testDemo(t, false) })
	t.Run("secure", func(t *testing.T) { testDemo(t, true) })
}

func testDemo(t *testing.T, secured bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out, logs bytes.Buffer
	res, err := runDemo(ctx, secured, &out, &logs)
	defer func() {
		if t.Failed() {
			t.Logf("demo output:\n%s\nnode logs:\n%s", out.String(), logs.String())
		}
	}()
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	if res.stopped == "" {
		t.Fatal("the demo stopped no node")
	}
	moved := 0
	for i := 1; i <= demoIDs; i++ {
		id := fmt.Sprintf("user-%d", i)
		before, after := res.before[id], res.after[id]
		if before == nil || after == nil {
			t.Errorf("%s: reply before the stop %v, after %v; want both", id, before, after)
			continue
		}
		if before.GetValue() != demoRounds || before.GetId() != id {
			t.Errorf("%s before the stop: %v; want value %d for %s", id, before, demoRounds, id)
		}
		if after.GetNode() == res.stopped {
			t.Errorf("%s answered from %s after it stopped", id, res.stopped)
		}
		want := int64(demoRounds + 1)
		if after.GetNode() != before.GetNode() {
			moved++
		}
		if after.GetValue() != want {
			t.Errorf("%s after the stop: %v (served before by %s); want value %d", id, after, before.GetNode(), want)
		}
		// The three tables list the ID with the node that served it.
		row := regexp.MustCompile(`(?m)^  ` + id + ` +node-\d`)
		if n := len(row.FindAllString(out.String(), -1)); n != 3 {
			t.Errorf("output lists %s with a node %d times; want 3", id, n)
		}
	}
	if moved == 0 {
		t.Errorf("no counter moved off %s", res.stopped)
	}
	for _, bad := range []string{"did not exit cleanly", "DATA RACE", "panic:"} {
		if bytes.Contains(out.Bytes(), []byte(bad)) || bytes.Contains(logs.Bytes(), []byte(bad)) {
			t.Errorf("demo output or node logs contain %q", bad)
		}
	}
	if secured != bytes.Contains(out.Bytes(), []byte("Secured: gossip sealed")) {
		t.Errorf("secured %v, but the output says otherwise", secured)
	}
	if !bytes.Contains(out.Bytes(), []byte("kept their counts")) {
		t.Error("output does not say that the moved counters kept their counts")
	}
	// After the kill: every counter goes on from its count, those of the
	// killed node from the SQLite file.
	fromStore := 0
	for i := 1; i <= demoIDs; i++ {
		id := fmt.Sprintf("user-%d", i)
		after, final := res.after[id], res.final[id]
		if after == nil || final == nil {
			t.Errorf("%s: reply before the kill %v, after %v; want both", id, after, final)
			continue
		}
		if final.GetNode() == res.killed {
			t.Errorf("%s answered from %s after it was killed", id, res.killed)
		}
		if final.GetValue() != demoRounds+2 {
			t.Errorf("%s after the kill: %v (served before by %s); want value %d", id, final, after.GetNode(), demoRounds+2)
		}
		if after.GetNode() == res.killed {
			fromStore++
		}
	}
	if fromStore == 0 {
		t.Errorf("no counter was on %s when it was killed", res.killed)
	}
}

func TestCounterHandle(t *testing.T) {
	c := &counter{node: "node-1"}
	for _, tc := range []struct {
		name    string
		msg     proto.Message
		want    int64
		wantErr bool
	}{
		{name: "get new", msg: &counterpb.Get{}, want: 0},
		{name: "add", msg: &counterpb.Add{Delta: 2}, want: 2},
		{name: "add negative", msg: &counterpb.Add{Delta: -5}, want: -3},
		{name: "get", msg: &counterpb.Get{}, want: -3},
		{name: "unknown message", msg: wrapperspb.String("x"), wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reply, err := c.Handle(actor.TestContext(context.Background(), capabilityName, "c-1"), tc.msg)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Handle(%T) = %v; want an error", tc.msg, reply)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			v := reply.(*counterpb.Value)
			if v.GetValue() != tc.want || v.GetNode() != "node-1" {
				t.Fatalf("Handle(%v) = %v; want value %d from node-1", tc.msg, v, tc.want)
			}
		})
	}
}
