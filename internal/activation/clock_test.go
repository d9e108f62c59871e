package activation

import (
	"testing"
	"time"
)

// TestMonoNowKeepsTime: monoNow orders against deadlines made from
// time.Now as time.Now does, and its wall reading agrees with the wall
// clock.
func TestMonoNowKeepsTime(t *testing.T) {
	before := time.Now()
	now := monoNow()
	after := time.Now()
	if now.Before(before) || now.After(after) {
		t.Fatalf("monoNow %v is not between %v and %v", now, before, after)
	}
	if d := time.Since(time.Unix(0, monoNow().UnixNano())); d > time.Second || d < -time.Second {
		t.Fatalf("the wall reading is %v off the wall clock", d)
	}
	deadline := time.Now().Add(time.Hour)
	if !monoNow().Before(deadline) || monoNow().After(deadline) {
		t.Fatal("monoNow is not before a deadline an hour away")
	}
}
