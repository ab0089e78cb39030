package k8stest

import (
	"context"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// TestK8sServiceAccountToken checks that the kubeconfig of a ServiceAccount
// authenticates with its token alone, is denied without RBAC, and allowed
// once bound to a ClusterRole.
func TestK8sServiceAccountToken(t *testing.T) {
	c := Start(t)
	ctx := context.Background()
	c.Namespace(t, "prod")
	c.Service(t, "prod", "app")

	path := c.ServiceAccountKubeconfig(t, "kube-system", "coredns")
	raw, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	user := raw.AuthInfos[raw.Contexts[raw.CurrentContext].AuthInfo]
	if user.Token == "" || len(user.ClientCertificateData) != 0 || user.ClientCertificate != "" {
		t.Fatalf("want a token and no client certificate: %+v", user)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	sa := kubernetes.NewForConfigOrDie(cfg)

	review, err := sa.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := review.Status.UserInfo.Username, "system:serviceaccount:kube-system:coredns"; got != want {
		t.Errorf("authenticated as %q, want %q", got, want)
	}
	if _, err := sa.CoreV1().Services("prod").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("listing services without a role: %v, want forbidden", err)
	}

	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "read-services"},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"list"},
		}},
	}
	if _, err := c.Client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "read-services"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "read-services"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "kube-system", Name: "coredns"}},
	}
	if _, err := c.Client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The authorizer reads RBAC through an informer: allowed shortly after.
	WaitFor(t, 30*time.Second, "the binding to allow listing services", func() bool {
		_, err := sa.CoreV1().Services("prod").List(ctx, metav1.ListOptions{})
		return err == nil
	})
	if _, err := sa.DiscoveryV1().EndpointSlices("prod").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("listing endpointslices, which the role does not grant: %v, want forbidden", err)
	}
}
