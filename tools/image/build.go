package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Where things are in the image; the DaemonSet's args and the Containerfile
// use the same paths.
const (
	binDir    = "opt/qinq/bin"
	installer = "usr/local/bin/qinq-install"
)

// Spec says what goes into the image.
type Spec struct {
	Installer string   // path of the qinq-install executable
	Binaries  []string // paths of the executables it installs (qinq, qinq-ovs)
	Ref       string   // e.g. ghcr.io/qinq-cni/qinq:v1.2.3
	Version   string
	Created   time.Time // every timestamp in the image: reproducible builds
	// Pause, when set, makes the sandbox image a CRI runtime starts for every
	// pod instead (registry.k8s.io/pause): this one static binary at /pause,
	// its entrypoint; Installer and Binaries are unused.
	Pause string
	// Files, when set, makes an image of these files alone, path in the
	// image to file on disk, with no entrypoint (the pod's command names
	// one): a third party's static binaries where its manifest expects
	// them (Multus's /usr/src/multus-cni/bin). Nothing else is used.
	Files map[string]string
	// Links are symbolic links of such an image, path to target: the
	// /var/run -> /run a distribution's base image has.
	Links map[string]string
}

// file is one entry of the single layer.
type file struct {
	name string // in the image, no leading slash
	src  string // on disk; "" for a directory or a link
	link string // the target of a symbolic link
}

func (s Spec) files() []file {
	if s.Pause != "" {
		return []file{{name: "pause", src: s.Pause}}
	}
	if len(s.Files) > 0 {
		return s.listed()
	}
	fs := []file{{name: "opt/"}, {name: "opt/qinq/"}, {name: binDir + "/"}, {name: "usr/"}, {name: "usr/local/"}, {name: "usr/local/bin/"}}
	for _, b := range s.Binaries {
		fs = append(fs, file{name: path.Join(binDir, filepath.Base(b)), src: b})
	}
	return append(fs, file{name: installer, src: s.Installer})
}

// listed is s.Files with their directories, in name order.
func (s Spec) listed() []file {
	seen := map[string]bool{}
	var out []file
	for _, dst := range append(sortedKeys(s.Files), sortedKeys(s.Links)...) {
		dst = strings.TrimPrefix(dst, "/")
		for d := path.Dir(dst); d != "."; d = path.Dir(d) {
			seen[d+"/"] = true
		}
	}
	for _, d := range sortedKeys(seen) {
		out = append(out, file{name: d})
	}
	for _, dst := range sortedKeys(s.Links) {
		out = append(out, file{name: strings.TrimPrefix(dst, "/"), link: s.Links[dst]})
	}
	for _, dst := range sortedKeys(s.Files) {
		out = append(out, file{name: strings.TrimPrefix(dst, "/"), src: s.Files[dst]})
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// layerTar is the layer's uncompressed tar: root-owned, 0755, fixed times.
func (s Spec) layerTar() ([]byte, error) {
	var buf bytes.Buffer
	w := tar.NewWriter(&buf)
	for _, f := range s.files() {
		h := &tar.Header{Name: f.name, Mode: 0o755, ModTime: s.Created, Format: tar.FormatPAX, Typeflag: tar.TypeDir}
		var data []byte
		if f.link != "" {
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, f.link, 0o777
		}
		if f.src != "" {
			var err error
			if data, err = os.ReadFile(f.src); err != nil {
				return nil, err
			}
			h.Typeflag, h.Size = tar.TypeReg, int64(len(data))
		}
		if err := w.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := w.Write(data); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), w.Close()
}

// Image builds the OCI image: one layer from scratch, the installer as
// entrypoint, uid 0 (the host directory it writes is root's; the DaemonSet
// drops every capability).
func (s Spec) Image() (v1.Image, error) {
	layerData, err := s.layerTar()
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerData)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{Created: v1.Time{Time: s.Created}, CreatedBy: "make image (tools/image)"}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Created = "amd64", "linux", v1.Time{Time: s.Created}
	cf.Config.Entrypoint = []string{"/" + installer}
	cf.Config.Cmd = []string{"-src=/" + binDir, "-dst=/host/cni-bin"}
	cf.Config.User = "0:0"
	cf.Config.WorkingDir = "/"
	cf.Config.Labels = s.labels()
	if s.Pause != "" {
		// As upstream's pause image: nobody, no labels.
		cf.Config.Entrypoint, cf.Config.Cmd, cf.Config.User, cf.Config.Labels = []string{"/pause"}, nil, "65535:65535", nil
	}
	if len(s.Files) > 0 {
		cf.Config.Entrypoint, cf.Config.Cmd, cf.Config.Labels = nil, nil, nil
	}
	return mutate.ConfigFile(img, cf)
}

func (s Spec) labels() map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "qinq",
		"org.opencontainers.image.description": "qinq CNI plugin (QinQ, 802.1ad) and its node installer; see deploy/ in the source",
		"org.opencontainers.image.source":      "https://github.com/qinq-cni/qinq",
		"org.opencontainers.image.version":     s.Version,
		"org.opencontainers.image.created":     s.Created.UTC().Format(time.RFC3339),
	}
}

// WriteArchive writes the image as an OCI image layout in a tar file (what
// `podman load`, `docker load` (25+), `ctr images import` and `skopeo copy
// oci-archive:` read), named by Ref.
func (s Spec) WriteArchive(out string) error {
	img, err := s.Image()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "qinq-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	names := map[string]string{"org.opencontainers.image.ref.name": s.Ref, "io.containerd.image.name": s.Ref}
	if err := p.AppendImage(img, layout.WithAnnotations(names)); err != nil {
		return err
	}
	return tarDir(dir, out, s.Created)
}

// tarDir packs dir into out, in name order with fixed times, via a temporary
// file renamed into place.
func tarDir(dir, out string, mtime time.Time) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != dir {
			paths = append(paths, p)
		}
		return err
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	tmp, err := os.CreateTemp(filepath.Dir(out), ".qinq-image-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	w := tar.NewWriter(tmp)
	for _, p := range paths {
		if err := addFile(w, dir, p, mtime); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

func addFile(w *tar.Writer, dir, p string, mtime time.Time) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	name, _ := filepath.Rel(dir, p)
	h := &tar.Header{Name: filepath.ToSlash(name), Mode: 0o644, ModTime: mtime, Format: tar.FormatPAX}
	if st.IsDir() {
		h.Name, h.Mode, h.Typeflag = h.Name+"/", 0o755, tar.TypeDir
		return w.WriteHeader(h)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	h.Typeflag, h.Size = tar.TypeReg, int64(len(data))
	if err := w.WriteHeader(h); err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

func check(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "qinq-image: %s: %v\n", what, err)
		os.Exit(1)
	}
}
