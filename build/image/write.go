package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// corednsPackage is the command that goes into the image.
const corednsPackage = "github.com/failover-dns/failover/plugin/coredns"

// buildBinary builds a static linux/amd64 coredns at out. -trimpath, no VCS
// stamp and an empty build ID make it depend on the source and the Go
// version only.
func buildBinary(goCmd, out string) error {
	cmd := exec.Command(goCmd, "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -buildid=", "-o", out, corednsPackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", corednsPackage, err)
	}
	return nil
}

// outputs are where writeOutputs puts the image.
type outputs struct {
	layout  string // OCI image layout directory
	archive string // docker-archive (docker save format) tarball
}

func outputsIn(dir string) outputs {
	return outputs{layout: filepath.Join(dir, "oci"), archive: filepath.Join(dir, "failover-coredns.tar")}
}

// writeOutputs writes img as an OCI layout whose index names it by the tag
// (umoci's --image DIR:TAG, skopeo's oci:DIR:TAG) and as a docker-archive
// (podman load, kind load image-archive, ctr images import).
func writeOutputs(img v1.Image, tag name.Tag, o outputs) error {
	// A layout keeps every blob ever written to it: start afresh.
	if err := os.RemoveAll(o.layout); err != nil {
		return err
	}
	index := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{
		Add: img,
		Descriptor: v1.Descriptor{Annotations: map[string]string{
			"org.opencontainers.image.ref.name": tag.TagStr(),
			"io.containerd.image.name":          containerdName(tag),
		}},
	})
	if _, err := layout.Write(o.layout, index); err != nil {
		return err
	}
	return tarball.WriteToFile(o.archive, tag, img)
}

// containerdName is the name containerd gives the docker-archive's image
// (ctr images import normalises a short name as docker.io/library/NAME), so
// that importing either output makes the same image.
func containerdName(tag name.Tag) string {
	full := tag.Name()
	if rest, ok := strings.CutPrefix(full, name.DefaultRegistry+"/"); ok {
		return "docker.io/" + rest
	}
	return full
}
