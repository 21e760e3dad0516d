package main

import (
	"github.com/containernetworking/cni/pkg/skel"

	"github.com/qinq-cni/qinq/pkg/node"
)

// run is one execution of the binary for one verb, passed to every step as
// a value: the runtime's arguments, the node's settings read once (a bad
// node.json leaves the strictest defaults; its error is kept, so the policy
// refuses on it and the log line names it), and what the verb adds to its
// log line.
type run struct {
	verb    string
	args    *skel.CmdArgs
	node    node.Settings
	nodeErr error
	notes   []any
	// policyInForce: a node policy decided this invocation; its messages
	// then name no other attachment (redactHolder).
	policyInForce bool
}

// newRun reads the node's settings for verb.
func newRun(verb string, args *skel.CmdArgs) *run {
	r := &run{verb: verb, args: args}
	r.node, r.nodeErr = node.Load()
	if r.nodeErr != nil {
		r.note("nodeSettings", "unusable, the strictest defaults apply: "+r.nodeErr.Error())
	}
	return r
}

// note adds key=value to this invocation's log line.
func (r *run) note(key string, value any) { r.notes = append(r.notes, key, value) }
