package store_test

import (
	"testing"

	"github.com/meshrun/mesh/store"
	"github.com/meshrun/mesh/store/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return store.NewMemory() })
}
