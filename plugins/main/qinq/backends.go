package main

import (
	"github.com/qinq-cni/qinq/pkg/backend"
	"github.com/qinq-cni/qinq/pkg/backend/kernel"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/record"
)

// newBackendFunc builds a backend; conf is nil when a recorded plan of that
// mode is only detached.
type newBackendFunc func(conf *config.Config, store record.Store) backend.Backend

// backends builds the backend of each mode ("mode" in the config). A mode
// whose backend is not linked into this binary (nil) is handed over to the
// binary that has it (see handover.go).
var backends = map[config.Backend]newBackendFunc{
	config.BackendKernel: func(conf *config.Config, store record.Store) backend.Backend { return kernel.New(conf, store) },
	config.BackendOVS:    ovsBackend,
}

// newBackend builds the backend of mode kind.
func newBackend(kind config.Backend, conf *config.Config, store record.Store) (backend.Backend, error) {
	build, known := backends[kind]
	if build == nil {
		return nil, elsewhere{kind: kind, known: known}
	}
	return build(conf, store), nil
}
