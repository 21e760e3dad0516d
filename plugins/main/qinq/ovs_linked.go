//go:build ovs

package main

import (
	"github.com/qinq-cni/qinq/pkg/backend"
	"github.com/qinq-cni/qinq/pkg/backend/ovs"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/record"
)

// This build (bin/qinq-ovs, -tags ovs) links the Open vSwitch backend.
var ovsBackend newBackendFunc = func(conf *config.Config, store record.Store) backend.Backend { return ovs.New(conf, store) }
