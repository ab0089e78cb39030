package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// checkOutputs reads the image back from the layout, by its tag, and from
// the docker-archive, and checks both are the image of that digest, with the
// config make image promises.
func checkOutputs(t *testing.T, ref, digest string, o outputs) {
	t.Helper()
	want, err := v1.NewHash(digest)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	index, err := layout.ImageIndexFromPath(o.layout)
	if err != nil {
		t.Fatal(err)
	}
	im, err := index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != tag.TagStr() || im.Manifests[0].Digest != want {
		t.Fatalf("layout index %+v, want one manifest %s tagged %s", im.Manifests, want, tag.TagStr())
	}
	img, err := index.Image(want)
	if err != nil {
		t.Fatal(err)
	}
	checkConfig(t, img)

	fromArchive, err := tarball.ImageFromPath(o.archive, &tag)
	if err != nil {
		t.Fatal(err)
	}
	wantID, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	if id, err := fromArchive.ConfigName(); err != nil || id != wantID {
		t.Fatalf("docker-archive image ID %s (error %v), want %s", id, err, wantID)
	}
}

func checkConfig(t *testing.T, img v1.Image) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	if !slices.Equal(c.Entrypoint, []string{"/coredns"}) || len(c.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q, want [/coredns] and none", c.Entrypoint, c.Cmd)
	}
	if c.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532", c.User)
	}
	var ports []string
	for p := range c.ExposedPorts {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	if !slices.Equal(ports, []string{"53/tcp", "53/udp", "9153/tcp"}) {
		t.Errorf("exposed ports %q, want 53/tcp 53/udp 9153/tcp", ports)
	}
	if !slices.Equal(c.Env, []string{imagePath}) {
		t.Errorf("env %q, want [%s]", c.Env, imagePath)
	}
	if layers, err := img.Layers(); err != nil || len(layers) != 1 {
		t.Errorf("%d layers (error %v), want 1: no base image", len(layers), err)
	}
}

// checkRootfs checks the unpacked files: /coredns executable by anyone and
// granted CAP_NET_BIND_SERVICE, the bundle readable by anyone and holding the
// build machine's bundle and extraCA, nothing else.
func checkRootfs(t *testing.T, rootfs string, extraCA []byte) {
	t.Helper()
	bin, err := os.Stat(filepath.Join(rootfs, "coredns"))
	if err != nil {
		t.Fatal(err)
	}
	if !bin.Mode().IsRegular() || bin.Mode().Perm() != 0o755 {
		t.Errorf("/coredns mode %v, want -rwxr-xr-x", bin.Mode())
	}
	capability := make([]byte, 64)
	n, err := syscall.Getxattr(filepath.Join(rootfs, "coredns"), "security.capability", capability)
	if err != nil || string(capability[:n]) != netBindService {
		t.Errorf("/coredns security.capability %x (error %v), want cap_net_bind_service=+ep", capability[:max(n, 0)], err)
	}
	bundle, err := os.ReadFile(filepath.Join(rootfs, caBundlePath))
	if err != nil {
		t.Fatal(err)
	}
	host, err := os.ReadFile(caBundlePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(bundle, host) || !bytes.HasSuffix(bundle, extraCA) {
		t.Errorf("%s in the image is not the build machine's bundle followed by the test CA", caBundlePath)
	}
	var files []string
	filepath.WalkDir(rootfs, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(rootfs, path)
			files = append(files, rel)
		}
		return err
	})
	if want := []string{"coredns", "etc/ssl/certs/ca-certificates.crt"}; !slices.Equal(files, want) {
		t.Errorf("image files %q, want %q", files, want)
	}
}
