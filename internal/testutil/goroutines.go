// Package testutil holds what the tests of several packages share.
package testutil

import (
	"runtime"
	"strings"
)

// Goroutines counts the goroutines whose stack mentions frame, such as
// "healthcheck.(*scheduler).run(": leak tests count the goroutines of one
// kind, which the rest of the process does not start or stop meanwhile.
func Goroutines(frame string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), frame)
		}
		buf = make([]byte, 2*len(buf))
	}
}
