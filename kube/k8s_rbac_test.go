package kube

import (
	"context"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failover-dns/failover/internal/k8stest"
)

// A ServiceAccount (a token, no client certificate) allowed only to list
// and watch Services and EndpointSlices reads all it needs; without that
// role its Source is down and says it is forbidden.
func TestK8sServiceAccountWithListAndWatch(t *testing.T) {
	c := k8stest.Start(t)
	c.Namespace(t, "prod")
	c.Service(t, "prod", "app")
	c.EndpointSlice(t, "prod", "app", "app-a", k8stest.Endpoint{Addr: "10.1.0.1"})
	src := Source{Kubeconfig: c.ServiceAccountKubeconfig(t, "kube-system", "coredns")}

	sub, rec := watchRef(t, Ref{src, "prod", "app"})
	awaitSource(t, sub, outageDeadline, "forbidden before the role is bound", func(s SourceStatus) bool {
		return !s.Up && strings.Contains(s.Err, "forbidden")
	})
	if sub.State().Synced {
		t.Error("synced without the right to list")
	}

	grantListAndWatch(t, c, "kube-system", "coredns")

	awaitState(t, sub, rec, 0, outageDeadline, "synced once the role is bound", func(st *State) bool {
		return st.Synced && st.Found && slices.Equal(st.Endpoints, []Endpoint{ep("10.1.0.1", true)})
	})
	awaitSource(t, sub, changeDeadline, "up", func(s SourceStatus) bool { return s.Up })
	before := rec.calls.Load()
	c.EndpointSlice(t, "prod", "app", "app-a", k8stest.Endpoint{Addr: "10.1.0.2"})
	awaitEndpoints(t, sub, rec, before, "a change seen by the ServiceAccount", ep("10.1.0.2", true))
}

// The in-cluster configuration (Source{}): the ServiceAccount's token and
// the cluster's CA where a Pod finds them, KUBERNETES_SERVICE_HOST and _PORT.
func TestK8sInClusterSource(t *testing.T) {
	if !k8stest.RunInPodNetwork(t) {
		return
	}
	c := k8stest.Start(t)
	c.Namespace(t, "prod")
	c.Service(t, "prod", "app")
	c.EndpointSlice(t, "prod", "app", "app-a", k8stest.Endpoint{Addr: "10.1.0.1"})
	c.InCluster(t, "kube-system", "coredns")
	grantListAndWatch(t, c, "kube-system", "coredns")

	src := Source{}
	if err := src.Check(); err != nil {
		t.Fatalf("Check in a Pod: %v", err)
	}
	sub, rec := watchRef(t, Ref{src, "prod", "app"})
	awaitState(t, sub, rec, 0, syncDeadline, "synced in-cluster", func(st *State) bool {
		return st.Synced && st.Found && slices.Equal(st.Endpoints, []Endpoint{ep("10.1.0.1", true)})
	})
	if v := apiUpValue(src); v != 1 {
		t.Errorf("kubernetes_api_up{source=%q} %v, want 1", src, v)
	}
}

// grantListAndWatch binds the ServiceAccount namespace/name to a
// ClusterRole that may only list and watch Services and EndpointSlices.
func grantListAndWatch(t *testing.T, c *k8stest.Cluster, namespace, name string) {
	t.Helper()
	ctx := context.Background()
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "failover-test-read"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"list", "watch"}},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
		},
	}
	if _, err := c.Client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "failover-test-read"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: name}},
	}
	if _, err := c.Client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
