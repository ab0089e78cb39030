// Package fleet holds a benchmark of a fleet's cost at 10,000 endpoints:
// the CPU of one CoreDNS replica in steady state, with and without
// `fleet`, against a real API server, real CoreDNS processes and real
// backends on loopback (BenchmarkFleetReplicaCPU, run by make bench-fleet).
// The size and the cost of one Lease write are measured in package fleet
// (BenchmarkFleetPublication).
package fleet
