// Package k8stest runs a real Kubernetes control plane for tests: etcd and
// kube-apiserver, started by controller-runtime's envtest from the binaries
// that make k8s-assets builds (no controller-manager, no scheduler, no
// kubelet: nothing makes EndpointSlices or tokens on its own, the tests do).
//
// Every test that calls Start is named TestK8s... or TestFleet...: make test-k8s runs exactly
// those. A test fails, never skips, when the binaries are missing.
package k8stest
