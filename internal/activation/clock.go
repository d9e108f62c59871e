package activation

import "time"

// clockBase anchors monoNow.
var clockBase = time.Now()

// monoNow returns the time from one read of the monotonic clock, where
// time.Now reads the wall clock as well: its wall reading is clockBase's
// advanced by the monotonic clock, so it is off by any step of the wall
// clock since the process started. It serves what stays in this process:
// a local call's deadline (compared by monotonic readings) and last uses.
func monoNow() time.Time { return clockBase.Add(time.Since(clockBase)) }
