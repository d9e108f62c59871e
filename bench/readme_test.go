package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWriteReadme: the targets table goes between the markers, replacing
// what was there, and the rest of the file is kept; a file without the
// markers is an error and is left alone.
func TestWriteReadme(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "README.md")
	before, after := "# title\n\ntext before\n\n", "\n\ntext after\n"
	if err := os.WriteFile(path, []byte(before+readmeBegin+"\nold figures\n"+readmeEnd+after), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &suite{Params: smokeParams(), Started: time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)}
	s.Machine.Cores, s.Machine.Go = 2, "go1.26"
	if err := writeReadme(path, s); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	got := string(b)
	if !strings.HasPrefix(got, before+readmeBegin) || !strings.HasSuffix(got, readmeEnd+after) {
		t.Fatalf("the text around the markers changed:\n%s", got)
	}
	if strings.Contains(got, "old figures") || !strings.Contains(got, "| target | goal |") || !strings.Contains(got, "2026-12-02") {
		t.Fatalf("the table was not rewritten:\n%s", got)
	}
	plain := filepath.Join(dir, "plain.md")
	if err := os.WriteFile(plain, []byte("no markers\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReadme(plain, s); err == nil {
		t.Error("a file without markers was accepted")
	}
	if b, _ := os.ReadFile(plain); string(b) != "no markers\n" {
		t.Errorf("a file without markers was changed: %q", b)
	}
}
