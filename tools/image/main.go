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
package main

import (
	"flag"
	"os"
	"strconv"
	"time"
)

func main() {
	out := flag.String("o", "qinq-image.tar", "the OCI archive to write")
	inst := flag.String("installer", "bin/qinq-install", "the qinq-install executable (the entrypoint)")
	ref := flag.String("ref", "ghcr.io/qinq-cni/qinq:dev", "the image name the archive carries")
	version := flag.String("version", "dev", "the org.opencontainers.image.version label")
	pause := flag.Bool("pause", false, "build the sandbox (pause) image around the one binary named instead")
	flag.Parse()
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
