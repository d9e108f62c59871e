package transport

import (
	"sync"
	"time"
)

// Bounds of the refusal log: a line per peer per logEvery at most, for at
// most maxLogKeys peers at once; past that, the other peers share one line
// per logEvery, so that no peer, and no number of peers, floods the log.
const (
	logEvery   = time.Minute
	maxLogKeys = 256
	// otherPeers is the key the peers past maxLogKeys share.
	otherPeers = "(other peers)"
)

// logLimit lets through at most one line per key per logEvery.
type logLimit struct {
	now func() time.Time // time.Now, but for tests

	mu   sync.Mutex // guards last
	last map[string]*logged
}

// logged is the last line let through for a key, and how many were held
// back since.
type logged struct {
	at   time.Time
	held int
}

func newLogLimit() *logLimit {
	return &logLimit{now: time.Now, last: map[string]*logged{}}
}

// allow reports whether a line for key may be logged now, under which key
// (otherPeers when too many keys are being held back), and how many lines
// of that key were held back since its last one.
func (l *logLimit) allow(key string) (ok bool, as string, held int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.last[key]
	if e == nil && len(l.last) >= maxLogKeys {
		for k, v := range l.last {
			if now.Sub(v.at) >= logEvery {
				delete(l.last, k)
			}
		}
		if len(l.last) >= maxLogKeys {
			key = otherPeers
			e = l.last[key]
		}
	}
	if e != nil && now.Sub(e.at) < logEvery {
		e.held++
		return false, key, 0
	}
	if e == nil {
		e = &logged{}
		l.last[key] = e
	}
	held = e.held
	e.at, e.held = now, 0
	return true, key, held
}
