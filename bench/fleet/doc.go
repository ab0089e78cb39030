// Package fleet holds a benchmark of a fleet's cost at 10,000 endpoints:
// the CPU of one CoreDNS replica in steady state, with and without
// `fleet`, against a real API server, real CoreDNS processes and real
// backends on loopback. BenchmarkFleetReplicaCPU runs three real replicas,
// more than two cores can at 10,000 endpoints; BenchmarkFleetOneReplicaCPU
// runs one, and writes the Leases of the two others itself. make
// bench-fleet runs the first at 2,000 endpoints and the second at 10,000.
// The size and the cost of one Lease write are measured in package fleet
// (BenchmarkFleetPublication).
package fleet
