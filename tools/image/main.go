// Command image builds qinq's OCI image archive from scratch, without any
// container daemon (go-containerregistry): the static binaries and the
// installer as entrypoint. `make image` runs it:
//
//	go run . -o bin/qinq-image.tar -installer bin/qinq-install -ref ghcr.io/qinq-cni/qinq:v1 bin/qinq bin/qinq-ovs
//
// With -pause it builds the sandbox image a CRI runtime needs for every pod
// (the runtime tests import it, so no registry is needed):
//
//	go run . -pause -o bin/pause-image.tar -ref registry.k8s.io/pause:3.6 bin/pause
//
// With -file it builds an image of those files alone, no entrypoint (the
// cluster tests' Multus image around the binaries built from the module proxy):
//
//	go run . -o bin/multus-image.tar -ref localhost/multus-cni:v4.2.4-thick \
//	    -file /usr/src/multus-cni/bin/multus-daemon=bin/multus-daemon ...
package main

import (
	"errors"
	"flag"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	out := flag.String("o", "qinq-image.tar", "the OCI archive to write")
	inst := flag.String("installer", "bin/qinq-install", "the qinq-install executable (the entrypoint)")
	ref := flag.String("ref", "ghcr.io/qinq-cni/qinq:dev", "the image name the archive carries")
	version := flag.String("version", "dev", "the org.opencontainers.image.version label")
	pause := flag.Bool("pause", false, "build the sandbox (pause) image around the one binary named instead")
	files := map[string]string{}
	flag.Func("file", "PATH=SRC: an image of such files alone, no entrypoint (repeatable)", func(v string) error {
		dst, src, ok := strings.Cut(v, "=")
		if !ok || dst == "" || src == "" {
			return errors.New("want PATH=SRC")
		}
		files[dst] = src
		return nil
	})
	links := map[string]string{}
	flag.Func("link", "PATH=TARGET: a symbolic link of such an image (repeatable)", func(v string) error {
		dst, target, ok := strings.Cut(v, "=")
		if !ok || dst == "" || target == "" {
			return errors.New("want PATH=TARGET")
		}
		links[dst] = target
		return nil
	})
	flag.Parse()
	if len(files) > 0 {
		spec := Spec{Files: files, Links: links, Ref: *ref, Version: *version, Created: created()}
		check(spec.WriteArchive(*out), "writing "+*out)
		return
	}
	if *pause {
		if flag.NArg() != 1 {
			check(os.ErrInvalid, "name the one pause binary")
		}
		spec := Spec{Pause: flag.Arg(0), Ref: *ref, Version: *version, Created: created()}
		check(spec.WriteArchive(*out), "writing "+*out)
		return
	}
	if flag.NArg() == 0 {
		check(os.ErrInvalid, "name the binaries to install (bin/qinq bin/qinq-ovs)")
	}
	spec := Spec{Installer: *inst, Binaries: flag.Args(), Ref: *ref, Version: *version, Created: created()}
	check(spec.WriteArchive(*out), "writing "+*out)
}

// created is SOURCE_DATE_EPOCH when set (reproducible builds), else now.
func created() time.Time {
	if s, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64); err == nil {
		return time.Unix(s, 0).UTC()
	}
	return time.Now().UTC().Truncate(time.Second)
}
