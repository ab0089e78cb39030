package main

import (
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's user and ports, as the official CoreDNS image has them
// (distroless's nonroot user).
const (
	imageUser = "65532:65532"
	imagePath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// caBundlePath is where Debian keeps its CA bundle (package ca-certificates),
// and where Go and the image look for it.
const caBundlePath = "/etc/ssl/certs/ca-certificates.crt"

var exposedPorts = []string{"53/tcp", "53/udp", "9153/tcp"}

// spec says what goes into the image.
type spec struct {
	binary   string    // a static linux/amd64 coredns
	caBundle string    // the CA bundle copied to /etc/ssl/certs/ca-certificates.crt
	extraCA  []byte    // PEM appended to the bundle; tests only
	created  time.Time // every timestamp of the image: files, history, config
	version  string    // org.opencontainers.image.version
}

// newImage builds the image from scratch, with OCI media types (umoci reads
// nothing else; podman, containerd and kind read both).
func newImage(s spec) (v1.Image, error) {
	files, err := readFiles(s.binary, s.caBundle, s.extraCA)
	if err != nil {
		return nil, err
	}
	layer, err := newLayer(files, s.created)
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: s.created.UTC().Truncate(time.Second)}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: created, CreatedBy: "build/image: /coredns and the CA bundle"},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", "amd64", created
	cf.Config.Entrypoint = []string{"/coredns"}
	cf.Config.User = imageUser
	cf.Config.WorkingDir = "/"
	cf.Config.Env = []string{imagePath}
	cf.Config.ExposedPorts = map[string]struct{}{}
	for _, p := range exposedPorts {
		cf.Config.ExposedPorts[p] = struct{}{}
	}
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":   "failover-coredns",
		"org.opencontainers.image.version": s.version,
	}
	return mutate.ConfigFile(img, cf)
}
