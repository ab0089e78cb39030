package kube

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Ref names one Service.
type Ref struct {
	Source          Source
	Namespace, Name string
}

// String is NAMESPACE/NAME, as the Corefile spells it after endpoints/ or
// service/.
func (r Ref) String() string { return r.Namespace + "/" + r.Name }

// Check reports why r can never name a Service: a namespace or name the API
// server would refuse (DNS-1123 labels, for Service names too since
// Kubernetes 1.37 made RelaxedServiceNameValidation GA), or a Source that can
// never work. Watch checks the names too: they end up in a field selector.
func (r Ref) Check() error {
	if err := r.checkNames(); err != nil {
		return err
	}
	return r.Source.Check()
}

func (r Ref) checkNames() error {
	if msgs := validation.IsDNS1123Label(r.Namespace); len(msgs) > 0 {
		return fmt.Errorf("namespace %q: %s", r.Namespace, strings.Join(msgs, "; "))
	}
	if msgs := validation.IsDNS1123Label(r.Name); len(msgs) > 0 {
		return fmt.Errorf("service name %q: %s", r.Name, strings.Join(msgs, "; "))
	}
	return nil
}
