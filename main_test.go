package mesh_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		runChild(name)
		return
	}
	if name := os.Getenv(netnsChildEnv); name != "" {
		runNetnsChild(name)
		return
	}
	goleak.VerifyTestMain(m,
		// memberlist's Shutdown does not wait for a probe in flight; it
		// ends by itself within a probe interval.
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
	)
}
