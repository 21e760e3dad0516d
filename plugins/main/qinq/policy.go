package main

import (
	"errors"
	"log/slog"
	"strings"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/node"
	"github.com/qinq-cni/qinq/pkg/policy"
	"github.com/qinq-cni/qinq/pkg/userns"
)

// enforcePolicy is the node policy's say on an ADD or CHECK, on the final
// config (per-pod values applied), before anything changes. No policy
// (no /etc/cni/qinq) allows everything; a policy that cannot be read allows
// nothing (code 50); a refusal is code 102 naming the rule. An entry with
// userNamespace "required" reads the owner of CNI_NETNS from the kernel,
// never from the config. Each decision is one line in the node's policy log.
// DEL and GC never come here: a pod is always let go.
func enforcePolicy(r *run, conf *config.Config) error {
	pol, err := loadPolicy(r)
	if err != nil || pol == nil {
		return err
	}
	r.policyInForce = true
	entry, err := pol.Allow(r.args.Args, conf, func() error { return userns.Below(r.args.Netns) })
	auditPolicy(r, entry, err)
	return err
}

// loadPolicy reads node.json and policy.json; either being bad is code 50.
func loadPolicy(r *run) (*policy.Policy, error) {
	if !node.Present() {
		r.note("policy", "none: "+node.Dir()+" does not exist, every network config is allowed")
		return nil, nil
	}
	if r.nodeErr != nil {
		r.note("policy", "unusable")
		return nil, cnierr.Unavailable("node settings: %v: fix or remove it", r.nodeErr)
	}
	pol, err := policy.Load()
	if err != nil {
		r.note("policy", "unusable")
		return nil, cnierr.Unavailable("node policy: %v", err)
	}
	r.note("policy", "in force: "+policy.Path())
	return pol, nil
}

// auditPolicy appends the decision to the node's policy log (in the log
// directory, whatever the network config says).
func auditPolicy(r *run, entry string, refusal error) {
	f, err := r.node.OpenPolicyLog()
	if err != nil {
		return // logging must never fail the verb
	}
	defer f.Close()
	log := slog.New(slog.NewJSONHandler(f, nil))
	attrs := []any{"verb", r.verb, "containerID", r.args.ContainerID, "ifname", r.args.IfName, "entry", entry}
	r.note("policyEntry", entry)
	if refusal == nil {
		log.Info("allow", attrs...)
		return
	}
	var e *types.Error
	if errors.As(refusal, &e) {
		attrs = append(attrs, "code", e.Code, "rule", strings.TrimPrefix(e.Details, "rule "))
	}
	log.Warn("refuse: "+refusal.Error(), attrs...)
}

// redactHolder rewrites a conflict (code 100) that names the attachment
// holding a VLAN or port, while a policy is in force: that holder may be
// another tenant's.
func (r *run) redactHolder(err error) error {
	var e *types.Error
	if !r.policyInForce || !errors.As(err, &e) || e.Code != cnierr.CodeConflict {
		return err
	}
	subject, rest, found := strings.Cut(e.Msg, " is already ")
	if !found || !strings.Contains(rest, "used by") && !strings.Contains(rest, "port of container") {
		return err // names only this attachment's own links
	}
	return &types.Error{Code: cnierr.CodeConflict, Msg: subject + " is already in use by another attachment on this node (its holder is not named while a node policy is in force)", Details: e.Details}
}
