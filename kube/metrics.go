package kube

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// apiUp has one series per Source in use, labelled with Source.String: a
// closed set, the Corefile's kubeconfig lines. The error itself goes to the
// log and to SourceStatus.
var apiUp = promauto.NewGaugeVec(prometheus.GaugeOpts{
	Namespace: plugin.Namespace, Subsystem: "failover", Name: "kubernetes_api_up",
	Help: "Whether the Kubernetes API server of a source answers every list and watch of the Services failover reads (1) or not (0).",
}, []string{"source"})
