package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshrun/mesh/store"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestSaveContenderSaves checks that the save contenders' node writes its
// process's state to the shared store after every call, before the reply:
// after n calls the stored count is n.
func TestSaveContenderSaves(t *testing.T) {
	a := storeArgs{Kind: "sqlite", Path: filepath.Join(t.TempDir(), "state.db")}
	m := &meshNode{}
	if _, err := m.start(startArgs{Contender: meshSave, Name: "node-1", Kinds: []string{"echo"}, Store: &a}); err != nil {
		t.Fatal(err)
	}
	defer m.close(true)
	st, err := openStore(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	payload := payloadOf(defaultPayload)
	for n := 1; n <= 5; n++ {
		if err := m.call("echo", "id-1", 0, payload); err != nil {
			t.Fatal(err)
		}
		rec, err := st.Load(t.Context(), store.Key{Capability: "echo", ID: "id-1"})
		if err != nil {
			t.Fatalf("after call %d: %v", n, err)
		}
		var count wrapperspb.UInt64Value
		if err := proto.Unmarshal(rec.Data, &count); err != nil {
			t.Fatalf("after call %d: %v", n, err)
		}
		if count.GetValue() != uint64(n) || rec.Version != uint64(n) {
			t.Fatalf("after call %d: stored count %d at version %d", n, count.GetValue(), rec.Version)
		}
	}
}

// TestReportStores checks S's table, a store not run for want of
// PostgreSQL included, the warning for SQLite files on tmpfs, and the cost
// of saving on change on B5.
func TestReportStores(t *testing.T) {
	s := synthetic("B5", phCall, map[string][]float64{meshC: {100, 200}, meshSave: {50, 50}})
	s.Results = append(s.Results,
		&result{Workload: "B5", Contender: meshSavePG, Round: 1, Err: notRunPG},
		&result{Workload: "S", Contender: storePostgres, Round: 1, Err: notRunPG})
	for i, v := range []float64{1000, 3000} {
		s.Results = append(s.Results, &result{Workload: "S", Contender: storeSQLiteFull, Round: i + 1,
			Phases: map[string]phaseResult{savePhase(1): {Name: savePhase(1), N: 1, OK: 1, Rate: v}}})
	}
	s.StoreFS = "tmpfs"
	dir := t.TempDir()
	if err := writeReport(dir, s); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "RESULTS.md"))
	if err != nil {
		t.Fatal(err)
	}
	report := string(b)
	for _, want := range []string{
		"**The SQLite files were on tmpfs:**",
		"| PostgreSQL | " + notRunPG + " |",
		"| SQLite, SyncFull | 2,000/s <sub>1,000/s–3,000/s</sub> |",
		"Cost of saving on change, mesh+save (SQLite) over mesh: throughput (16 B) 0.38× <sub>0.25×–0.50×</sub>",
		"mesh+save (PostgreSQL): " + notRunPG,
		"| mesh+save(SQLite)/mesh |",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("RESULTS.md lacks %q", want)
		}
	}
	if strings.Contains(report, "| mesh+save (PostgreSQL) |") {
		t.Error("RESULTS.md has a column for a contender that did not run")
	}
}
