package k8stest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
)

// apiServerHost picks the address kube-apiserver listens on: one of
// 127.0.30.0/24 (this harness's loopback range), chosen at random so that
// clusters of tests running at once do not meet. Its port stays bound to it
// across StopAPIServer and StartAPIServer: no client connection takes it
// meanwhile, since connections on loopback leave from 127.0.0.1.
func apiServerHost() (host, port string, err error) {
	for range 20 {
		host := fmt.Sprintf("127.0.30.%d", 2+rand.IntN(253))
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			continue
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		return host, strconv.Itoa(port), nil
	}
	return "", "", fmt.Errorf("no free port on 127.0.30.0/24")
}
