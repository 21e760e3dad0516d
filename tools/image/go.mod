// The image builder is a module of its own: go-containerregistry would
// otherwise raise versions of modules linked into bin/qinq (x/sys,
// otel). Nothing here is linked into the plugin.
module github.com/qinq-cni/qinq/tools/image

go 1.26.8

require (
	github.com/google/go-containerregistry v0.22.1
	github.com/opencontainers/image-spec v1.1.1
)

require (
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	golang.org/x/sync v0.22.0 // indirect
)
