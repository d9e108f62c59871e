package sqlite

// SetMaxBatch sets the most writes one transaction takes in the Stores
// opened after it, for the benchmarks that compare group commit with none
// (1), and returns the previous value. It is not safe to call
// concurrently with Open.
func SetMaxBatch(n int) int {
	prev := maxBatch
	maxBatch = n
	return prev
}
