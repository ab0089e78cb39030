// Command image builds the failover CoreDNS container image without a
// container engine or a base image: one layer holding a static /coredns and
// the build machine's CA bundle, run as 65532:65532. It writes an OCI layout
// and a docker-archive, and prints the image's digest. The same source, Go
// version, bundle and -created give the same digest.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

func main() {
	out := flag.String("out", "_out", "output directory: OCI layout in OUT/oci, docker-archive OUT/failover-coredns.tar")
	ref := flag.String("tag", "failover-coredns:v1.15.0-failover.0", "image name and tag")
	binary := flag.String("binary", "", "a static linux/amd64 coredns to put in the image; built from ./plugin/coredns into OUT/coredns without it")
	caBundle := flag.String("ca-bundle", caBundlePath, "CA bundle copied to /etc/ssl/certs/ca-certificates.crt (Debian package ca-certificates)")
	goCmd := flag.String("go", "go", "the go command that builds the binary")
	created := flag.Int64("created", sourceDateEpoch(), "timestamp of every file, the history and the config, in Unix seconds (default $SOURCE_DATE_EPOCH, else 0)")
	flag.Parse()
	if err := run(*goCmd, *out, *ref, *binary, *caBundle, time.Unix(*created, 0)); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(goCmd, out, ref, binary, caBundle string, created time.Time) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if binary == "" {
		binary = filepath.Join(out, "coredns")
		if err := buildBinary(goCmd, binary); err != nil {
			return err
		}
	}
	img, err := newImage(spec{binary: binary, caBundle: caBundle, created: created, version: tag.TagStr()})
	if err != nil {
		return err
	}
	o := outputsIn(out)
	if err := writeOutputs(img, ref, o); err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	id, err := img.ConfigName()
	if err != nil {
		return err
	}
	fmt.Printf("%s\n  digest   %s\n  image ID %s\n  layout   %s\n  archive  %s\n", ref, digest, id, o.layout, o.archive)
	return nil
}

// sourceDateEpoch is $SOURCE_DATE_EPOCH (reproducible-builds.org), or 0.
func sourceDateEpoch() int64 {
	v, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64)
	if err != nil {
		return 0
	}
	return v
}
