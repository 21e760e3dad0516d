package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The archive is read back by hand (archive/tar, the OCI spec's types), not
// with the library that wrote it.

// archive is an OCI image layout read from a tar file: blob contents by
// digest, and the layout's top-level files.
type archive struct {
	blobs map[string][]byte
	files map[string][]byte
}

func readArchive(t *testing.T, path string) archive {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a := archive{blobs: map[string][]byte{}, files: map[string][]byte{}}
	r := tar.NewReader(f)
	for {
		h, err := r.Next()
		if err == io.EOF {
			return a
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(r)
		if d, ok := strings.CutPrefix(h.Name, "blobs/sha256/"); ok && h.Typeflag == tar.TypeReg {
			if sum := fmt.Sprintf("%x", sha256.Sum256(data)); sum != d {
				t.Fatalf("blob %s has digest %s", d, sum)
			}
			a.blobs["sha256:"+d] = data
		} else if h.Typeflag == tar.TypeReg {
			a.files[h.Name] = data
		}
	}
}

func (a archive) decode(t *testing.T, d ocispec.Descriptor, v any) []byte {
	t.Helper()
	data, ok := a.blobs[d.Digest.String()]
	if !ok || int64(len(data)) != d.Size {
		t.Fatalf("blob %s: missing or not %d bytes", d.Digest, d.Size)
	}
	if v != nil {
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatalf("blob %s: %v", d.Digest, err)
		}
	}
	return data
}

// layerFile is a regular file or directory of the layer.
type layerFile struct {
	mode     int64
	uid, gid int
	data     []byte
	dir      bool
}

func readLayer(t *testing.T, gz []byte) (map[string]layerFile, []byte) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]layerFile{}
	r := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := r.Next()
		if err == io.EOF {
			return out, raw
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(r)
		out[strings.TrimSuffix(h.Name, "/")] = layerFile{h.Mode, h.Uid, h.Gid, data, h.Typeflag == tar.TypeDir}
	}
}

// expectation is what the archive must hold.
type expectation struct {
	ref      string
	binaries map[string][]byte // name -> content (nil: any)
	version  string
}

func checkArchive(t *testing.T, path string, want expectation) map[string]layerFile {
	a := readArchive(t, path)
	if !strings.Contains(string(a.files["oci-layout"]), `"imageLayoutVersion"`) {
		t.Fatalf("no oci-layout file: %q", a.files["oci-layout"])
	}
	var index ocispec.Index
	if err := json.Unmarshal(a.files["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json: %v, %d manifests, want 1", err, len(index.Manifests))
	}
	md := index.Manifests[0]
	if md.MediaType != ocispec.MediaTypeImageManifest || md.Annotations[ocispec.AnnotationRefName] != want.ref {
		t.Fatalf("index entry %+v: want an OCI manifest named %s", md, want.ref)
	}
	var m ocispec.Manifest
	a.decode(t, md, &m)
	if m.Config.MediaType != ocispec.MediaTypeImageConfig || len(m.Layers) != 1 || m.Layers[0].MediaType != ocispec.MediaTypeImageLayerGzip {
		t.Fatalf("manifest: config %s, %d layers, want an OCI config and one gzip layer", m.Config.MediaType, len(m.Layers))
	}
	var cfg ocispec.Image
	a.decode(t, m.Config, &cfg)
	files, raw := readLayer(t, a.decode(t, m.Layers[0], nil))
	checkConfig(t, cfg, raw, want)
	checkFiles(t, files, want)
	return files
}

// runInstaller unpacks the layer and runs the image's own installer, once,
// on its own binaries: the real qinq answers VERSION and gets installed.
func runInstaller(t *testing.T, files map[string]layerFile, want expectation) {
	t.Helper()
	root, dst := t.TempDir(), t.TempDir()
	for name, f := range files {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if f.dir {
			os.MkdirAll(p, 0o755)
		} else if err := os.WriteFile(p, f.data, os.FileMode(f.mode)); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(filepath.Join(root, "usr/local/bin/qinq-install"), "-once", "-src", filepath.Join(root, "opt/qinq/bin"), "-dst", dst)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the image's installer on its own binaries: %v\n%s", err, out)
	}
	for name, data := range want.binaries {
		if got, err := os.ReadFile(filepath.Join(dst, name)); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s not installed by the image's installer: %v", name, err)
		}
	}
}

func checkConfig(t *testing.T, cfg ocispec.Image, layer []byte, want expectation) {
	t.Helper()
	c := cfg.Config
	if strings.Join(c.Entrypoint, " ") != "/usr/local/bin/qinq-install" || c.User != "0:0" {
		t.Errorf("entrypoint %v user %q, want /usr/local/bin/qinq-install as 0:0", c.Entrypoint, c.User)
	}
	if strings.Join(c.Cmd, " ") != "-src=/opt/qinq/bin -dst=/host/cni-bin" {
		t.Errorf("cmd %v: the default flags must match the DaemonSet's mount", c.Cmd)
	}
	if cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Errorf("platform %s/%s", cfg.OS, cfg.Architecture)
	}
	for k, v := range map[string]string{"org.opencontainers.image.title": "qinq", "org.opencontainers.image.version": want.version,
		"org.opencontainers.image.source": "https://github.com/qinq-cni/qinq"} {
		if c.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
		}
	}
	if len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0].String() != fmt.Sprintf("sha256:%x", sha256.Sum256(layer)) {
		t.Errorf("rootfs diff_ids %v do not match the layer", cfg.RootFS.DiffIDs)
	}
}

func checkFiles(t *testing.T, files map[string]layerFile, want expectation) {
	t.Helper()
	expected := map[string][]byte{"usr/local/bin/qinq-install": nil}
	for name, data := range want.binaries {
		expected["opt/qinq/bin/"+name] = data
	}
	for name, data := range expected {
		f, ok := files[name]
		if !ok || f.dir || f.mode != 0o755 || f.uid != 0 || f.gid != 0 {
			t.Errorf("%s: %+v, want a root-owned 0755 file", name, ok)
			continue
		}
		if data != nil && !bytes.Equal(f.data, data) {
			t.Errorf("%s: not the source's bytes", name)
		}
	}
	for name, f := range files {
		if _, ok := expected[name]; !ok && !f.dir {
			t.Errorf("unexpected file %s in the image", name)
		}
	}
}

// TestArchive builds an archive from fake binaries and checks it; with
// QINQ_IMAGE set (make image) it checks that archive instead, against the
// binaries named in QINQ_IMAGE_BINARIES (paths).
func TestArchive(t *testing.T) {
	if path := os.Getenv("QINQ_IMAGE"); path != "" {
		want := expectation{ref: os.Getenv("QINQ_IMAGE_REF"), version: os.Getenv("QINQ_IMAGE_VERSION"), binaries: map[string][]byte{}}
		for _, b := range strings.Fields(os.Getenv("QINQ_IMAGE_BINARIES")) {
			data, err := os.ReadFile(b)
			if err != nil {
				t.Fatal(err)
			}
			want.binaries[filepath.Base(b)] = data
		}
		files := checkArchive(t, path, want)
		runInstaller(t, files, want)
		return
	}
	dir := t.TempDir()
	write := func(name string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte("#!/bin/sh\n# fake "+name+"\n"), 0o700)
		return p
	}
	spec := Spec{Installer: write("qinq-install"), Binaries: []string{write("qinq"), write("qinq-ovs")},
		Ref: "example.org/qinq:test", Version: "v9.9.9", Created: time.Unix(1700000000, 0).UTC()}
	out := filepath.Join(dir, "image.tar")
	if err := spec.WriteArchive(out); err != nil {
		t.Fatal(err)
	}
	bins := map[string][]byte{}
	for _, b := range spec.Binaries {
		bins[filepath.Base(b)], _ = os.ReadFile(b)
	}
	checkArchive(t, out, expectation{ref: spec.Ref, version: spec.Version, binaries: bins})

	// Reproducible: the same inputs make the same bytes.
	again := filepath.Join(dir, "again.tar")
	if err := spec.WriteArchive(again); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(again)
	if !bytes.Equal(a, b) {
		t.Error("two builds of the same inputs differ")
	}
}

// TestPauseArchive: -pause makes the sandbox image a CRI runtime starts for
// every pod: the one binary at /pause, its entrypoint, run as nobody.
func TestPauseArchive(t *testing.T) {
	dir := t.TempDir()
	pause := filepath.Join(dir, "pause")
	os.WriteFile(pause, []byte("\x7fELF fake pause"), 0o700)
	spec := Spec{Pause: pause, Ref: "registry.k8s.io/pause:3.6", Created: time.Unix(0, 0).UTC()}
	out := filepath.Join(dir, "pause.tar")
	if err := spec.WriteArchive(out); err != nil {
		t.Fatal(err)
	}
	a := readArchive(t, out)
	var index ocispec.Index
	if err := json.Unmarshal(a.files["index.json"], &index); err != nil || len(index.Manifests) != 1 ||
		index.Manifests[0].Annotations["io.containerd.image.name"] != spec.Ref {
		t.Fatalf("index.json: %v %+v, want one manifest named %s for ctr images import", err, index, spec.Ref)
	}
	var m ocispec.Manifest
	a.decode(t, index.Manifests[0], &m)
	var cfg ocispec.Image
	a.decode(t, m.Config, &cfg)
	if c := cfg.Config; strings.Join(c.Entrypoint, " ") != "/pause" || c.User != "65535:65535" || len(c.Cmd) != 0 {
		t.Errorf("config %+v, want entrypoint /pause as 65535:65535", c)
	}
	files, _ := readLayer(t, a.decode(t, m.Layers[0], nil))
	if f, ok := files["pause"]; len(files) != 1 || !ok || f.mode != 0o755 || string(f.data) != "\x7fELF fake pause" {
		t.Errorf("layer %v, want only /pause, 0755, the binary's bytes", files)
	}
}

// An image of listed files: each at its path, its directories before it,
// no entrypoint.
func TestFilesImage(t *testing.T) {
	src := filepath.Join(t.TempDir(), "daemon")
	if err := os.WriteFile(src, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := Spec{Files: map[string]string{"/usr/src/multus-cni/bin/multus-daemon": src}, Links: map[string]string{"/var/run": "../run"},
		Ref: "localhost/x:1", Created: time.Unix(0, 0)}
	var names []string
	for _, f := range s.files() {
		names = append(names, f.name)
	}
	want := []string{"usr/", "usr/src/", "usr/src/multus-cni/", "usr/src/multus-cni/bin/", "var/", "var/run", "usr/src/multus-cni/bin/multus-daemon"}
	if !slices.Equal(names, want) {
		t.Fatalf("layer entries %v, want %v", names, want)
	}
	img, err := s.Image()
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.Entrypoint != nil || cf.Config.Cmd != nil {
		t.Fatalf("entrypoint %v, cmd %v; want none", cf.Config.Entrypoint, cf.Config.Cmd)
	}
}
