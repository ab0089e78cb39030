package integration

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"sigs.k8s.io/yaml"

	"github.com/failover-dns/failover/internal/k8stest"
)

// The fleet of the deploy Corefiles (fleet coredns-failover/coredns) and
// what its Role grants there: a replica writes its own Lease, watches the
// others' and deletes its own when it stops. Nothing else, in no other
// namespace: above all not in kube-system, whose Leases are the leader
// elections of kube-controller-manager and kube-scheduler.
const fleetNamespace = "coredns-failover"

// leaderElections are Leases of kube-system that the ServiceAccount must not
// touch: kube-controller-manager's and kube-scheduler's leader elections.
var leaderElections = []string{"kube-controller-manager", "kube-scheduler"}

var (
	fleetVerbs = []string{"get", "list", "watch", "create", "update", "delete"}
	// everyVerb is what the checks ask of Leases: the fleet's verbs and
	// those it must not have.
	everyVerb = append(slices.Clone(fleetVerbs), "patch", "deletecollection")
)

// corednsGroups are the groups the API server gives the ServiceAccount
// kube-system/coredns's token: a SubjectAccessReview must name them, as a
// ClusterRoleBinding may bind any of them.
var corednsGroups = []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"}

// checkPodNameEnv checks that env sets POD_NAME from the downward API, the
// identity of the replica in the fleet (its Lease is GROUP-POD_NAME).
func checkPodNameEnv(t *testing.T, manifest string, env []corev1.EnvVar) {
	t.Helper()
	i := slices.IndexFunc(env, func(e corev1.EnvVar) bool { return e.Name == "POD_NAME" })
	if i < 0 {
		t.Errorf("%s: no POD_NAME in the container's environment: %+v", manifest, env)
		return
	}
	e := env[i]
	if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("%s: POD_NAME is not the Pod's name from the downward API (fieldRef metadata.name): %+v", manifest, e)
	}
}

// helmValuesEnv is the env of deploy/helm/values.yaml, which the chart's
// Deployment template writes into the coredns container as it is (toYaml).
func helmValuesEnv(t *testing.T) []corev1.EnvVar {
	t.Helper()
	b, err := os.ReadFile(helmValuesFile)
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		Env []corev1.EnvVar `json:"env"`
	}
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatalf("%s: %v", helmValuesFile, err)
	}
	return values.Env
}

// leaseAccess asks the API server's authorizer whether the ServiceAccount
// kube-system/coredns may verb Leases in namespace ("" for every namespace).
func leaseAccess(t *testing.T, c *k8stest.Cluster, verb, namespace string) bool {
	t.Helper()
	return allowed(t, c, authorizationv1.ResourceAttributes{Namespace: namespace, Verb: verb, Group: "coordination.k8s.io", Resource: "leases"})
}

// allowed is the authorizer's answer for the ServiceAccount kube-system/coredns.
func allowed(t *testing.T, c *k8stest.Cluster, attrs authorizationv1.ResourceAttributes) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	review, err := c.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{User: corednsAccount, Groups: corednsGroups, ResourceAttributes: &attrs},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SubjectAccessReview %+v: %v", attrs, err)
	}
	return review.Status.Allowed
}

// checkLeaseRBAC checks, once the manifests named are applied, that the
// ServiceAccount kube-system/coredns may do to Leases exactly the fleet's
// verbs, in the fleet's namespace only, and nothing else there that it was
// not given before; that with its own token it really creates, reads,
// watches, renews and deletes a Lease of the fleet; and that it can neither
// create a Lease elsewhere nor change or delete the leader elections of
// kube-system.
func checkLeaseRBAC(t *testing.T, c *k8stest.Cluster, sa kubernetes.Interface, manifests string) {
	t.Helper()
	for _, namespace := range []string{fleetNamespace, "kube-system", "kube-node-lease", "default", "prod", ""} {
		for _, verb := range everyVerb {
			want := namespace == fleetNamespace && slices.Contains(fleetVerbs, verb)
			if got := leaseAccess(t, c, verb, namespace); got != want {
				t.Errorf("%s: the ServiceAccount may %s Leases in namespace %q: %v, want %v", manifests, verb, namespace, got, want)
			}
		}
	}
	for _, denied := range []authorizationv1.ResourceAttributes{
		{Verb: "get", Resource: "secrets"},
		{Verb: "update", Resource: "configmaps"},
		{Verb: "delete", Resource: "pods"},
	} {
		denied.Namespace = fleetNamespace
		if allowed(t, c, denied) {
			t.Errorf("%s lets the ServiceAccount %+v", manifests, denied)
		}
	}
	if err := keepsLease(sa); err != nil {
		t.Errorf("%s: the ServiceAccount cannot keep a Lease in %s: %v", manifests, fleetNamespace, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, namespace := range []string{"kube-system", "default"} {
		lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "coredns-elsewhere"}}
		if _, err := sa.CoordinationV1().Leases(namespace).Create(ctx, lease, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("%s: the ServiceAccount creates a Lease in the namespace %s: %v, want forbidden", manifests, namespace, err)
		}
	}
	for _, name := range leaderElections {
		if err := touchesLease(ctx, sa.CoordinationV1().Leases("kube-system"), c.Client.CoordinationV1().Leases("kube-system"), name); err != nil {
			t.Errorf("%s: %v", manifests, err)
		}
	}
}

// touchesLease tries, as the ServiceAccount (sa), to read, update and
// delete the Lease name that admin reads, and returns an error when any of
// them is not forbidden.
func touchesLease(ctx context.Context, sa, admin coordinationv1client.LeaseInterface, name string) error {
	if _, err := sa.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		return fmt.Errorf("get Lease %s: %v, want forbidden", name, err)
	}
	lease, err := admin.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	holder := "coredns"
	lease.Spec.HolderIdentity = &holder
	if _, err := sa.Update(ctx, lease, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
		return fmt.Errorf("update Lease %s: %v, want forbidden", name, err)
	}
	if err := sa.Delete(ctx, name, metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		return fmt.Errorf("delete Lease %s: %v, want forbidden", name, err)
	}
	return nil
}

// leaderElectionLeases creates, as the admin, the Leases of leaderElections
// in kube-system, held as kube-controller-manager and kube-scheduler hold
// theirs: the test cluster runs neither.
func leaderElectionLeases(t *testing.T, c *k8stest.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, name := range leaderElections {
		holder, seconds := "control-plane-0_"+name, int32(15)
		lease := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &seconds},
		}
		if _, err := c.Client.CoordinationV1().Leases("kube-system").Create(ctx, lease, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
}

// keepsLease does with sa what a replica of the fleet does to its Lease:
// creates it, lists and watches the group's, gets and renews it, and deletes
// it.
func keepsLease(sa kubernetes.Interface) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leases := sa.CoordinationV1().Leases(fleetNamespace)
	selector := metav1.ListOptions{LabelSelector: "failover.coredns.io/fleet=coredns"}
	holder, seconds := "replica-0", int32(3)
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "coredns-replica-0", Labels: map[string]string{"failover.coredns.io/fleet": "coredns"}},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &seconds},
	}
	created, err := leases.Create(ctx, lease, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	if _, err := leases.List(ctx, selector); err != nil {
		return err
	}
	w, err := leases.Watch(ctx, selector)
	if err != nil {
		return err
	}
	w.Stop()
	got, err := leases.Get(ctx, created.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	now := metav1.NewMicroTime(time.Now())
	got.Spec.RenewTime = &now
	if _, err := leases.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		return err
	}
	return leases.Delete(ctx, created.Name, metav1.DeleteOptions{})
}
