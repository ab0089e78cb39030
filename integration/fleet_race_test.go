//go:build race

package integration

// raceEnabled: the tests run with the race detector, and so do the CoreDNS
// processes they build.
const raceEnabled = true
