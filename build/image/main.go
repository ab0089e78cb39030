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

// options are the command's flags.
type options struct {
	out, ref, goCmd, extraCA string
	spec
}

func main() {
	var o options
	flag.StringVar(&o.out, "out", "_out", "output directory: OCI layout in OUT/oci, docker-archive OUT/failover-coredns.tar")
	flag.StringVar(&o.ref, "tag", "failover-coredns:v1.15.0-failover.0", "image name and tag")
	flag.StringVar(&o.binary, "binary", "", "a static linux/amd64 coredns to put in the image; built from ./plugin/coredns into OUT/coredns without it")
	flag.StringVar(&o.goCmd, "go", "go", "the go command that builds the binary")
	flag.StringVar(&o.caBundle, "ca-bundle", caBundlePath, "CA bundle copied to "+caBundlePath+" (Debian package ca-certificates)")
	flag.StringVar(&o.extraCA, "extra-ca", "", "a PEM file appended to the bundle (for tests)")
	created := flag.Int64("created", sourceDateEpoch(), "timestamp of every file, the history and the config, in Unix seconds (default $SOURCE_DATE_EPOCH, else 0)")
	flag.Parse()
	o.created = time.Unix(*created, 0)
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	tag, err := name.NewTag(o.ref)
	if err != nil {
		return err
	}
	o.version = tag.TagStr()
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	if o.extraCA != "" {
		if o.spec.extraCA, err = os.ReadFile(o.extraCA); err != nil {
			return err
		}
	}
	if o.binary == "" {
		o.binary = filepath.Join(o.out, "coredns")
		if err := buildBinary(o.goCmd, o.binary); err != nil {
			return err
		}
	}
	img, err := newImage(o.spec)
	if err != nil {
		return err
	}
	out := outputsIn(o.out)
	if err := writeOutputs(img, tag, out); err != nil {
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
	fmt.Printf("%s\n  digest   %s\n  image ID %s\n  layout   %s\n  archive  %s\n", o.ref, digest, id, out.layout, out.archive)
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
