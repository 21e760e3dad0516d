package main

import (
	"fmt"

	"github.com/qinq-cni/qinq/pkg/backend"
	"github.com/qinq-cni/qinq/pkg/backend/kernel"
	"github.com/qinq-cni/qinq/pkg/backend/ovs"
	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/record"
)

// backends builds the backend of each mode ("mode" in the config). conf is
// nil when a recorded plan of that mode is only detached.
var backends = map[config.Backend]func(conf *config.Config, store record.Store) backend.Backend{
	config.BackendKernel: func(conf *config.Config, store record.Store) backend.Backend { return kernel.New(conf, store) },
	config.BackendOVS:    func(conf *config.Config, _ record.Store) backend.Backend { return ovs.New(conf) },
}

// newBackend builds the backend of mode kind.
func newBackend(kind config.Backend, conf *config.Config, store record.Store) (backend.Backend, error) {
	build, ok := backends[kind]
	if !ok {
		return nil, cnierr.Internal("choose the backend", fmt.Errorf("mode %q is not one this binary knows", kind))
	}
	return build(conf, store), nil
}
