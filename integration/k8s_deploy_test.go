package integration

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/failover-dns/failover/internal/k8stest"
)

// The manifests of deploy/ as a user applies them.
const (
	clusterDNSDir   = "../deploy/cluster-dns"
	helmValuesFile  = "../deploy/helm/values.yaml"
	helmRBACFile    = "../deploy/helm/rbac.yaml"
	helmOverrides   = "../deploy/helm/overrides.yaml"
	deployImage     = "failover-coredns:v1.15.0-failover.0"
	corednsAccount  = "system:serviceaccount:kube-system:coredns"
	overridesVolume = "coredns-failover-overrides"
)

// kustomized is what kubectl kustomize makes of deploy/cluster-dns.
type kustomized struct {
	corefile    string
	deployment  *appsv1.Deployment
	overrides   *corev1.ConfigMap
	clusterRole *rbacv1.ClusterRole
}

// kustomize builds deploy/cluster-dns with the kustomize of the built kubectl.
func kustomize(t *testing.T, c *k8stest.Cluster) kustomized {
	t.Helper()
	out, err := c.Kubectl(t, "", "kustomize", clusterDNSDir)
	if err != nil {
		t.Fatal(err)
	}
	var k kustomized
	for _, obj := range decodeManifests(t, out) {
		switch o := obj.(type) {
		case *corev1.ConfigMap:
			switch o.Name {
			case "coredns":
				k.corefile = o.Data["Corefile"]
			case overridesVolume:
				k.overrides = o
			}
		case *appsv1.Deployment:
			k.deployment = o
		case *rbacv1.ClusterRole:
			k.clusterRole = o
		}
	}
	if k.corefile == "" || k.deployment == nil || k.overrides == nil || k.clusterRole == nil {
		t.Fatalf("kubectl kustomize %s lacks a Corefile, the Deployment, the override ConfigMap or the ClusterRole:\n%s", clusterDNSDir, out)
	}
	return k
}

// decodeManifests decodes a stream of YAML documents into typed objects.
func decodeManifests(t *testing.T, manifests string) []runtime.Object {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifests)))
	var objs []runtime.Object
	for {
		doc, err := r.Read()
		if err != nil {
			break // io.EOF: a reading error shows as a missing object
		}
		if strings.TrimSpace(string(doc)) == "" {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("decoding %s: %v", doc, err)
		}
		objs = append(objs, obj)
	}
	return objs
}

// withKubeconfig returns corefile with "kubeconfig PATH CONTEXT" added to
// the blocks of the plugins named (kubernetes, failover), as a Corefile
// written for a pod runs out of the cluster: the kubernetes plugin reads its
// in-cluster credentials in its setup, and failover reads the Services with
// them once started. A failover block gets it only when it names a Service
// and has no kubeconfig (failover refuses one otherwise).
func withKubeconfig(corefile, path, context string, plugins ...string) string {
	lines := strings.Split(corefile, "\n")
	var out []string
	for i, line := range lines {
		out = append(out, line)
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[len(fields)-1] != "{" || !slices.Contains(plugins, fields[0]) {
			continue
		}
		if fields[0] == "failover" {
			body := blockBody(lines[i+1:])
			if !strings.Contains(body, "service/") && !strings.Contains(body, "endpoints/") ||
				regexp.MustCompile(`(?m)^\s*kubeconfig\s`).MatchString(body) {
				continue
			}
		}
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		out = append(out, fmt.Sprintf("%s    kubeconfig %s %s", indent, path, context))
	}
	return strings.Join(out, "\n")
}

// blockBody returns the lines up to the closing brace of a block.
func blockBody(lines []string) string {
	var body []string
	for _, l := range lines {
		if strings.TrimSpace(l) == "}" {
			break
		}
		body = append(body, l)
	}
	return strings.Join(body, "\n")
}

// sameCorefile compares two Corefiles token by token: indentation aside.
func sameCorefile(a, b string) bool {
	return slices.Equal(strings.Fields(a), strings.Fields(b))
}

// TestK8sDeployManifests checks deploy/ against a real API server: every
// manifest is accepted (kubectl apply --dry-run=server), the Corefile of the
// kustomization and the one the Helm chart makes of values.yaml are the same
// and accepted by our build, the Deployment mounts what the Corefile reads
// and exposes its status port, both name the replica by its Pod (POD_NAME),
// and the ServiceAccount that the manifests bind reads Services and
// EndpointSlices in every namespace, and keeps the fleet's Leases in the
// namespace the manifests make for them, coredns-failover, and nowhere
// else, with the manifests' RBAC alone.
func TestK8sDeployManifests(t *testing.T) {
	c := k8stest.Start(t)
	c.Namespace(t, "kube-system")
	k := kustomize(t, c)

	t.Run("corefiles", func(t *testing.T) {
		helm := helmValuesCorefile(t)
		if !sameCorefile(k.corefile, helm) {
			t.Errorf("the Helm values give another Corefile than deploy/cluster-dns:\n%s\n--- deploy/cluster-dns:\n%s", helm, k.corefile)
		}
		// The failover blocks as written, in-cluster: as in a pod, whose
		// kubelet sets these; the kubernetes plugin, which reads a token
		// in its setup, gets a kubeconfig instead.
		u, err := url.Parse(c.Config.Host)
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv("KUBERNETES_SERVICE_HOST", u.Hostname())
		t.Setenv("KUBERNETES_SERVICE_PORT", u.Port())
		kubeconfig := c.Kubeconfig(t)
		for name, corefile := range map[string]string{
			"deploy/cluster-dns (ConfigMap coredns)":   k.corefile,
			"deploy/helm/values.yaml (chart Corefile)": helm,
		} {
			local := withKubeconfig(corefile, kubeconfig, k8stest.Context, "kubernetes")
			if local == corefile {
				t.Errorf("%s: no kubernetes block to point at the test cluster", name)
			}
			if err := validate(name, local); err != nil {
				t.Errorf("%s refused: %v\n%s", name, err, local)
			}
		}
		// The check can fail: as written, out of a pod, for the kubernetes
		// plugin; and for a bad Service member.
		if err := validate("as written", k.corefile); err == nil {
			t.Error("the kubernetes plugin set up out of a pod, without a kubeconfig")
		}
		broken := strings.Replace(withKubeconfig(k.corefile, kubeconfig, k8stest.Context, "kubernetes"), "service/prod/app", "service/prod", 1)
		if err := validate("broken", broken); err == nil || !strings.Contains(err.Error(), "broken:") {
			t.Errorf("a Service member without a namespace: %v", err)
		}
	})

	t.Run("deployment", func(t *testing.T) { checkDeployment(t, k) })

	t.Run("helm env", func(t *testing.T) { checkPodNameEnv(t, helmValuesFile, helmValuesEnv(t)) })

	t.Run("rbac", func(t *testing.T) { checkRBAC(t, c) })

	// After rbac, which applied the manifests for real: a server-side dry
	// run does not create the fleet's namespace, so the API server would
	// refuse the Role and RoleBinding in it (namespace not found) before.
	t.Run("apply", func(t *testing.T) {
		for _, args := range [][]string{
			{"-k", clusterDNSDir},
			{"-f", helmRBACFile, "-f", helmOverrides},
		} {
			out, err := c.Kubectl(t, "", append([]string{"apply", "--dry-run=server"}, args...)...)
			if err != nil {
				t.Errorf("kubectl apply --dry-run=server %s: %v", strings.Join(args, " "), err)
			}
			t.Logf("%s", out)
		}
	})
}

// checkDeployment checks that the kustomized Deployment runs our image,
// mounts the override ConfigMap as a directory where the Corefile reads it,
// declares the status port the Corefile listens on, and names the replica
// in the fleet.
func checkDeployment(t *testing.T, k kustomized) {
	spec := k.deployment.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers", len(spec.Containers))
	}
	ctr := spec.Containers[0]
	if ctr.Image != deployImage {
		t.Errorf("image %s, want %s", ctr.Image, deployImage)
	}
	checkPodNameEnv(t, clusterDNSDir, ctr.Env)

	override := regexp.MustCompile(`(?m)^\s*override\s+(\S+)`).FindStringSubmatch(k.corefile)
	if override == nil {
		t.Fatalf("no override file in the Corefile:\n%s", k.corefile)
	}
	dir, file := path.Split(override[1])
	var volume string
	for _, m := range ctr.VolumeMounts {
		if path.Clean(m.MountPath) == path.Clean(dir) {
			volume = m.Name
			if m.SubPath != "" || m.SubPathExpr != "" {
				t.Errorf("the override directory is mounted with a subPath, which the kubelet never updates")
			}
		}
	}
	var cm *corev1.ConfigMapVolumeSource
	for _, v := range spec.Volumes {
		if v.Name == volume {
			cm = v.ConfigMap
		}
	}
	if cm == nil || cm.Name != overridesVolume || len(cm.Items) != 0 {
		t.Fatalf("the override file %s is not the ConfigMap %s mounted as a directory: volume %q %+v", override[1], overridesVolume, volume, cm)
	}
	if _, ok := k.overrides.Data[file]; !ok {
		t.Errorf("ConfigMap %s has no key %s, the file the Corefile reads", overridesVolume, file)
	}

	status := regexp.MustCompile(`(?m)^\s*status\s+\S*:(\d+)\s*$`).FindStringSubmatch(k.corefile)
	if status == nil {
		t.Fatalf("no status address in the Corefile:\n%s", k.corefile)
	}
	if !slices.ContainsFunc(ctr.Ports, func(p corev1.ContainerPort) bool {
		return fmt.Sprint(p.ContainerPort) == status[1] && p.Protocol == corev1.ProtocolTCP
	}) {
		t.Errorf("the status port %s is not a container port: %+v", status[1], ctr.Ports)
	}
}

// checkRBAC checks with the ServiceAccount kube-system/coredns's own token
// that it is denied without the manifests' RBAC, allowed to get, list and
// watch Services and EndpointSlices in every namespace, and to keep the
// fleet's Leases in coredns-failover, which each of deploy/helm's rbac.yaml
// and deploy/cluster-dns makes on its own, and allowed nothing more of what
// it is asked here (checkLeaseRBAC).
func checkRBAC(t *testing.T, c *k8stest.Cluster) {
	c.Namespace(t, "prod")
	leaderElectionLeases(t, c)
	c.Service(t, "prod", "app")
	c.EndpointSlice(t, "prod", "app", "app-1", k8stest.Endpoint{Addr: "192.0.2.1"})
	cfg, err := clientcmd.BuildConfigFromFlags("", c.ServiceAccountKubeconfig(t, "kube-system", "coredns"))
	if err != nil {
		t.Fatal(err)
	}
	sa := kubernetes.NewForConfigOrDie(cfg)

	if err := readsServices(sa); err == nil {
		t.Fatal("the ServiceAccount reads Services before any RBAC is applied")
	}
	if err := keepsLease(sa); err == nil {
		t.Fatal("the ServiceAccount keeps a Lease before any RBAC is applied")
	}
	for _, m := range []struct {
		name          string
		apply, remove []string
	}{
		// --wait=false: the namespace stays terminating until
		// finishNamespaceDeletion, with no namespace controller here.
		{"deploy/helm/rbac.yaml", []string{"apply", "-f", helmRBACFile}, []string{"delete", "--wait=false", "-f", helmRBACFile}},
		{"deploy/cluster-dns", []string{"apply", "-k", clusterDNSDir}, nil},
	} {
		if _, err := c.Kubectl(t, "", m.apply...); err != nil {
			t.Fatal(err)
		}
		// The authorizer sees RBAC objects through an informer: shortly after.
		k8stest.WaitFor(t, 30*time.Second, m.name+" to let the ServiceAccount read Services and EndpointSlices", func() bool {
			return readsServices(sa) == nil
		})
		// Roles and ClusterRoles reach the authorizer by informers of their own.
		k8stest.WaitFor(t, 30*time.Second, m.name+" to let the ServiceAccount create Leases in "+fleetNamespace, func() bool {
			return leaseAccess(t, c, "create", fleetNamespace)
		})
		checkLeaseRBAC(t, c, sa, m.name)
		for _, verb := range []string{"get", "list", "watch"} {
			for _, resource := range []string{"services", "endpointslices.discovery.k8s.io"} {
				if out, err := c.Kubectl(t, "", "auth", "can-i", verb, resource, "--all-namespaces", "--as", corednsAccount); err != nil {
					t.Errorf("%s: can-i %s %s: %q, %v", m.name, verb, resource, out, err)
				}
			}
		}
		for _, denied := range [][]string{{"list", "secrets"}, {"create", "services"}, {"update", "endpointslices.discovery.k8s.io"}} {
			if out, err := c.Kubectl(t, "", append([]string{"auth", "can-i"}, append(denied, "--all-namespaces", "--as", corednsAccount)...)...); err == nil {
				t.Errorf("%s lets the ServiceAccount %s: %q", m.name, strings.Join(denied, " "), out)
			}
		}
		if m.remove != nil {
			if _, err := c.Kubectl(t, "", m.remove...); err != nil {
				t.Fatal(err)
			}
			finishNamespaceDeletion(t, c, fleetNamespace)
			k8stest.WaitFor(t, 30*time.Second, "the ServiceAccount to be denied again without "+m.name, func() bool {
				return readsServices(sa) != nil && !leaseAccess(t, c, "create", fleetNamespace)
			})
		}
	}
}

// finishNamespaceDeletion does for the namespace name, which kubectl delete
// left terminating, what kube-controller-manager's namespace controller does
// and the test cluster has none to do: once the namespace is empty, it drops
// the finalizer "kubernetes" and deletes the namespace for good, so that the
// next manifests can make it again.
func finishNamespaceDeletion(t *testing.T, c *k8stest.Cluster, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	namespaces := c.Client.CoreV1().Namespaces()
	ns, err := namespaces.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("namespace %s after kubectl delete: %v", name, err)
	}
	if ns.DeletionTimestamp == nil {
		t.Fatalf("kubectl delete left the namespace %s in place", name)
	}
	roles, err := c.Client.RbacV1().Roles(name).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bindings, err := c.Client.RbacV1().RoleBindings(name).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	leases, err := c.Client.CoordinationV1().Leases(name).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(roles.Items) + len(bindings.Items) + len(leases.Items); n != 0 {
		t.Fatalf("the namespace %s keeps %d Roles, RoleBindings and Leases after kubectl delete", name, n)
	}
	ns.Spec.Finalizers = nil
	if _, err := namespaces.Finalize(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("finalizing namespace %s: %v", name, err)
	}
	if err := namespaces.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("deleting namespace %s: %v", name, err)
	}
	k8stest.WaitFor(t, 30*time.Second, "the namespace "+name+" to be gone", func() bool {
		_, err := namespaces.Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
}

// readsServices lists Services and EndpointSlices in every namespace, opens
// a watch of each, and gets prod/app and its slice, as the ServiceAccount.
func readsServices(sa kubernetes.Interface) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := sa.CoreV1().Services("").List(ctx, metav1.ListOptions{}); err != nil {
		return err
	}
	if _, err := sa.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{}); err != nil {
		return err
	}
	for _, watch := range []func() error{
		func() error {
			w, err := sa.CoreV1().Services("").Watch(ctx, metav1.ListOptions{})
			if err == nil {
				w.Stop()
			}
			return err
		},
		func() error {
			w, err := sa.DiscoveryV1().EndpointSlices("").Watch(ctx, metav1.ListOptions{})
			if err == nil {
				w.Stop()
			}
			return err
		},
	} {
		if err := watch(); err != nil {
			return err
		}
	}
	if _, err := sa.CoreV1().Services("prod").Get(ctx, "app", metav1.GetOptions{}); err != nil {
		return err
	}
	_, err := sa.DiscoveryV1().EndpointSlices("prod").Get(ctx, "app-1", metav1.GetOptions{})
	return err
}

// TestWithKubeconfig checks which blocks withKubeconfig points at a cluster.
func TestWithKubeconfig(t *testing.T) {
	in := `. {
    kubernetes cluster.local {
       pods insecure
    }
    failover a.example.org {
       primary service/prod/a
    }
    failover b.example.org {
       primary 192.0.2.1
       check http://:80/
    }
    failover c.example.org {
       primary endpoints/prod/c
       kubeconfig /other
    }
}`
	want := `. {
    kubernetes cluster.local {
        kubeconfig /k ctx
       pods insecure
    }
    failover a.example.org {
        kubeconfig /k ctx
       primary service/prod/a
    }
    failover b.example.org {
       primary 192.0.2.1
       check http://:80/
    }
    failover c.example.org {
       primary endpoints/prod/c
       kubeconfig /other
    }
}`
	if got := withKubeconfig(in, "/k", "ctx", "kubernetes", "failover"); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if got := withKubeconfig(in, "/k", "ctx", "kubernetes"); strings.Count(got, "/k ctx") != 1 {
		t.Errorf("kubernetes only:\n%s", got)
	}
}
