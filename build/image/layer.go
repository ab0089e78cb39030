package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// file is one regular file of the layer: where it goes in the image, its
// content and its mode. Every entry belongs to root: the process runs as
// 65532 and only reads them.
type file struct {
	name    string
	content []byte
	mode    int64
	xattrs  map[string]string
}

// netBindService is the security.capability extended attribute that
// `setcap cap_net_bind_service=+ep` writes (struct vfs_cap_data, revision 2,
// little endian): permitted and effective CAP_NET_BIND_SERVICE (bit 10). The
// official CoreDNS image sets it on /coredns so that uid 65532 binds port 53;
// the container must still have the capability in its bounding set.
var netBindService = string([]byte{
	0x01, 0x00, 0x00, 0x02, // VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
	0x00, 0x04, 0x00, 0x00, // permitted[0]: 1<<10
	0x00, 0x00, 0x00, 0x00, // inheritable[0]
	0x00, 0x00, 0x00, 0x00, // permitted[1]
	0x00, 0x00, 0x00, 0x00, // inheritable[1]
})

// newLayer returns the one layer of the image. The tar is the same bytes for
// the same files: entries sorted, parent directories made explicit, owner,
// modes and mtimes fixed, no user or group names. ggcr gzips it with Go's
// compress/gzip at BestSpeed and no header mtime, so the digest follows (for
// one Go version).
func newLayer(files []file, mtime time.Time) (v1.Layer, error) {
	data, err := layerTar(files, mtime)
	if err != nil {
		return nil, err
	}
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	// The digest, the layout and the archive each read the compressed layer:
	// compress it once.
	return tarball.LayerFromOpener(open, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}

func layerTar(files []file, mtime time.Time) ([]byte, error) {
	mtime = mtime.UTC().Truncate(time.Second)
	var headers []*tar.Header
	contents := map[string][]byte{}
	dirs := map[string]bool{}
	for _, f := range files {
		for dir := path.Dir(f.name); dir != "." && !dirs[dir]; dir = path.Dir(dir) {
			dirs[dir] = true
			headers = append(headers, &tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: mtime, Format: tar.FormatUSTAR})
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.content)), ModTime: mtime, Format: tar.FormatUSTAR}
		if len(f.xattrs) > 0 {
			h.Format, h.PAXRecords = tar.FormatPAX, map[string]string{}
			for k, v := range f.xattrs {
				h.PAXRecords["SCHILY.xattr."+k] = v
			}
		}
		headers = append(headers, h)
		contents[f.name] = f.content
	}
	// A parent sorts before its children: "etc/" < "etc/ssl/".
	sort.Slice(headers, func(i, j int) bool { return headers[i].Name < headers[j].Name })

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range headers {
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(contents[h.Name]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// readFiles reads the binary and the CA bundle into the layer's files,
// appending extraCA (PEM, may be empty) to the bundle.
func readFiles(binary, caBundle string, extraCA []byte) ([]file, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	bundle, err := os.ReadFile(caBundle)
	if err != nil {
		return nil, err
	}
	if len(extraCA) > 0 {
		bundle = append(append(bytes.Clone(bundle), '\n'), extraCA...)
	}
	return []file{
		{name: "coredns", content: bin, mode: 0o755, xattrs: map[string]string{"security.capability": netBindService}},
		{name: strings.TrimPrefix(caBundlePath, "/"), content: bundle, mode: 0o644},
	}, nil
}
