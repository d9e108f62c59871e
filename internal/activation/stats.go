package activation

// Counts returns the number of activations of each capability that has
// any. It takes each stripe's read lock in turn, so the counts of a busy
// table are a moment's approximation.
func (t *Table) Counts() map[string]int {
	out := make(map[string]int)
	t.acts.all(func(c string, m *striped[*entry]) {
		n := 0
		for i := range m.s {
			s := &m.s[i]
			s.mu.RLock()
			n += len(s.m)
			s.mu.RUnlock()
		}
		if n > 0 {
			out[c] = n
		}
	})
	return out
}
