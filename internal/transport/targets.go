package transport

import (
	"hash/maphash"
	"sync/atomic"

	pa "github.com/asynkron/protoactor-go/actor"
)

// targetSlots is the number of PIDs a transport remembers: enough for the
// activations a node serves most, at 8 bytes a slot.
const targetSlots = 1 << 15

// maxTargetID bounds the IDs targets remembers. protoactor's are a few
// bytes ("$123"); a target of a message is the sender's text, and without
// the bound a peer could pin a large one in every slot.
const maxTargetID = 64

// targets remembers the PIDs received messages were delivered to, one per
// slot chosen by a hash of the protoactor ID, so that a message for a
// process that received one before reuses the PID protoactor has already
// resolved. A PID made anew for every message cost a lookup in
// protoactor's registry (two hashes and a lock) and an allocation. A slot
// holds the last ID hashed to it. The PID of a process that has stopped
// stays until another ID takes its slot and resolves, meanwhile, to the
// dead-letter process, as a new PID would: protoactor never gives a
// stopped process's ID to another.
type targets struct {
	seed  maphash.Seed
	slots []atomic.Pointer[pa.PID]
}

func newTargets() *targets {
	return &targets{seed: maphash.MakeSeed(), slots: make([]atomic.Pointer[pa.PID], targetSlots)}
}

// pid returns the PID of the process id at addr, remembered or new. An ID
// longer than maxTargetID is never remembered.
func (c *targets) pid(addr, id string) *pa.PID {
	if len(id) > maxTargetID {
		return &pa.PID{Address: addr, Id: id}
	}
	s := &c.slots[maphash.String(c.seed, id)%targetSlots]
	if p := s.Load(); p != nil && p.Id == id && p.Address == addr {
		return p
	}
	p := &pa.PID{Address: addr, Id: id}
	s.Store(p)
	return p
}
