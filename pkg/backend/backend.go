// Package backend is the interface the verbs call. A backend builds and
// removes attachments of one kind: kernel VLAN links (package kernel) or
// Open vSwitch ports (package ovs). The binary's wiring chooses one when the
// config is loaded; the verbs never ask which.
package backend

import (
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/qinq-cni/qinq/pkg/plan"
	"github.com/qinq-cni/qinq/pkg/undo"
)

// Backend builds, checks and removes attachments.
type Backend interface {
	// Plan is what an ADD of a would build, from the config and what the
	// node says (the master's or bridge's MTU). It changes nothing.
	Plan(a plan.Attachment) (plan.Plan, error)
	// Attach builds p. Every change it makes pushes its inverse on u, so a
	// later failure of the ADD undoes it.
	Attach(p plan.Plan, u *undo.Stack) (Attached, error)
	// Detach removes what p describes. Whatever is already gone (netns,
	// links, ports, master) is skipped: DEL succeeds when there is nothing
	// left to delete.
	Detach(p plan.Plan) error
	// Check reports (code 101) how the node differs from p.
	Check(p plan.Plan) error
	// Collect removes what this backend holds for network that the records
	// do not cover (links or ports left by a crash, ports that outlived a
	// reboot) unless keep accepts its attachment, and returns the
	// attachments it detached. Records themselves are the verbs' business.
	Collect(network string, keep func(plan.Attachment) bool) ([]plan.Attachment, error)
	// Status reports (code 50) what keeps this node from attaching.
	Status() error
	// Close releases what the backend opened.
	Close()
}

// Attached is what Attach made, for the result.
type Attached struct {
	// Container is the interface IPAM configures; nil when the backend
	// made none (chained: the earlier plugin's interface is used as is).
	Container *current.Interface
	// Host lists host-side interfaces to report after it (an OVS veth end).
	Host []*current.Interface
	// AntiSpoof names what keeps a bridge port to its pod's MAC on this
	// kernel, for the log ("" for other endpoints).
	AntiSpoof string
}
