package sqlite

// SetMaxBatch sets the most writes one transaction takes, for the
// benchmarks that compare group commit with none (1), and returns the
// previous value. Call it only while no Store is open.
func SetMaxBatch(n int) int {
	prev := maxBatch
	maxBatch = n
	return prev
}
