package main

import (
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/node"
)

// checkNodePaths refuses (code 7), before anything is opened, a logFile
// outside the node's log directory and an ovsdbSocket the node does not
// allow: no path or endpoint from a network config reaches root's file
// system or network.
func checkNodePaths(settings node.Settings, conf *config.Config) error {
	if err := settings.CheckLogFile(conf.LogFile); err != nil {
		return err
	}
	if conf.Backend == config.BackendOVS {
		return settings.CheckOVSDB(conf.OVSDBSocket)
	}
	return nil
}
