package k8stest

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Context is the name of the context, cluster and user of the kubeconfig
// files the harness writes.
const Context = "envtest"

// tokenLifetime is how long ServiceAccount tokens are valid: longer than
// any test.
const tokenLifetime = 2 * time.Hour

// Kubeconfig writes a kubeconfig file for an administrator (client
// certificate, group system:masters) in a directory of t's, with current
// context "envtest", and returns its path.
func (c *Cluster) Kubeconfig(t testing.TB) string {
	t.Helper()
	path, err := c.writeKubeconfig(t.TempDir(), "admin", c.adminUser())
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func (c *Cluster) adminUser() *clientcmdapi.AuthInfo {
	return &clientcmdapi.AuthInfo{
		ClientCertificateData: c.Config.CertData,
		ClientKeyData:         c.Config.KeyData,
	}
}

// ServiceAccountKubeconfig writes a kubeconfig file that authenticates as the
// ServiceAccount namespace/name, with a token from the TokenRequest API, as
// a pod's projected token does; no client certificate. The namespace and the
// ServiceAccount are created when missing. The ServiceAccount may do nothing
// until a test binds it to a role.
func (c *Cluster) ServiceAccountKubeconfig(t testing.TB, namespace, name string) string {
	t.Helper()
	c.Namespace(t, namespace)
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	accounts := c.Client.CoreV1().ServiceAccounts(namespace)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := accounts.Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating ServiceAccount %s/%s: %v", namespace, name, err)
	}
	seconds := int64(tokenLifetime / time.Second)
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds}}
	tok, err := accounts.CreateToken(ctx, name, req, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("requesting a token for ServiceAccount %s/%s: %v", namespace, name, err)
	}
	path, err := c.writeKubeconfig(t.TempDir(), "sa-"+namespace+"-"+name, &clientcmdapi.AuthInfo{Token: tok.Status.Token})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// writeKubeconfig writes dir/name.kubeconfig for user on the cluster.
func (c *Cluster) writeKubeconfig(dir, name string, user *clientcmdapi.AuthInfo) (string, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[Context] = &clientcmdapi.Cluster{
		Server:                   c.Config.Host,
		CertificateAuthorityData: c.Config.CAData,
	}
	cfg.AuthInfos[Context] = user
	cfg.Contexts[Context] = &clientcmdapi.Context{Cluster: Context, AuthInfo: Context}
	cfg.CurrentContext = Context
	path := filepath.Join(dir, name+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", fmt.Errorf("writing kubeconfig: %w", err)
	}
	return path, nil
}
