package ovsdb

import (
	"context"

	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/qinq-cni/qinq/pkg/cnierr"
)

// Bridge returns the bridge called name, or nil when there is none.
func (c *Client) Bridge(name string) (*Bridge, error) {
	var rows []Bridge
	err := c.db.WhereCache(func(b *Bridge) bool { return b.Name == name }).List(context.Background(), &rows)
	if err != nil {
		return nil, cnierr.Internal("read the Bridge table", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

// BridgeOf returns the bridge holding the port, or nil.
func (c *Client) BridgeOf(p *Port) (*Bridge, error) {
	var rows []Bridge
	has := func(b *Bridge) bool {
		for _, u := range b.Ports {
			if u == p.UUID {
				return true
			}
		}
		return false
	}
	if err := c.db.WhereCache(has).List(context.Background(), &rows); err != nil {
		return nil, cnierr.Internal("read the Bridge table", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

// PortByName returns the port called name, or nil.
func (c *Client) PortByName(name string) (*Port, error) {
	ports, err := c.Ports(func(p *Port) bool { return p.Name == name })
	if err != nil || len(ports) == 0 {
		return nil, err
	}
	return &ports[0], nil
}

// Ports lists the ports keep accepts.
func (c *Client) Ports(keep func(*Port) bool) ([]Port, error) {
	var rows []Port
	if err := c.db.WhereCache(keep).List(context.Background(), &rows); err != nil {
		return nil, cnierr.Internal("read the Port table", err)
	}
	return rows, nil
}

// InterfaceMTU returns the MTU OVS reports for the interface called name
// (a bridge's own interface has the bridge's name), 0 if unknown.
func (c *Client) InterfaceMTU(name string) (int, error) {
	var rows []Interface
	err := c.db.WhereCache(func(i *Interface) bool { return i.Name == name }).List(context.Background(), &rows)
	if err != nil {
		return 0, cnierr.Internal("read the Interface table", err)
	}
	if len(rows) == 0 || rows[0].MTU == nil {
		return 0, nil
	}
	return *rows[0].MTU, nil
}

// NewPort is a port qinq creates: one system interface of the same name.
type NewPort struct {
	Name        string
	VLAN        VLAN
	ExternalIDs map[string]string
}

// AddPort inserts the port and its interface and adds it to the bridge, in
// one transaction, and waits until ovs-vswitchd has applied it.
func (c *Client) AddPort(br *Bridge, np NewPort) error {
	iface := &Interface{UUID: "qinqiface", Name: np.Name}
	port := &Port{UUID: "qinqport", Name: np.Name, Interfaces: []string{iface.UUID}, ExternalIDs: np.ExternalIDs}
	np.VLAN.set(port)
	if np.VLAN.QinQEthtype != "" {
		port.OtherConfig = map[string]string{EthtypeKey: np.VLAN.QinQEthtype}
	}
	ops, err := c.db.Create(iface, port)
	if err != nil {
		return cnierr.Internal("build the port insert", err)
	}
	attach, err := c.db.Where(br).Mutate(br, model.Mutation{Field: &br.Ports, Mutator: ovsdb.MutateOperationInsert, Value: []string{port.UUID}})
	if err != nil {
		return cnierr.Internal("build the bridge mutation", err)
	}
	return c.transact("add port "+np.Name+" to bridge "+br.Name, true, append(ops, attach...))
}

// set writes v's columns into p (nil and empty clear them).
func (v VLAN) set(p *Port) {
	p.VLANMode, p.Tag, p.Trunks, p.CVlans = v.VLANMode, v.Tag, v.Trunks, v.CVlans
}

// DeletePort removes the port from its bridge; OVSDB garbage-collects the
// Port and Interface rows, which nothing else references.
func (c *Client) DeletePort(br *Bridge, p *Port) error {
	detach, err := c.db.Where(br).Mutate(br, model.Mutation{Field: &br.Ports, Mutator: ovsdb.MutateOperationDelete, Value: []string{p.UUID}})
	if err != nil {
		return cnierr.Internal("build the bridge mutation", err)
	}
	return c.transact("delete port "+p.Name+" from bridge "+br.Name, false, detach)
}

// Reconfigure sets the port's VLAN columns and qinq-ethtype to v, removes
// the external_ids keys in drop and sets those in ids, in one transaction.
// Map keys are changed by mutation, so keys other writers own are untouched.
func (c *Client) Reconfigure(p *Port, v VLAN, ids map[string]string, drop []string) error {
	row := &Port{UUID: p.UUID}
	v.set(row)
	ops, err := c.db.Where(row).Update(row, &row.VLANMode, &row.Tag, &row.Trunks, &row.CVlans)
	if err != nil {
		return cnierr.Internal("build the port update", err)
	}
	muts := []model.Mutation{
		{Field: &row.OtherConfig, Mutator: ovsdb.MutateOperationDelete, Value: []string{EthtypeKey}},
		{Field: &row.ExternalIDs, Mutator: ovsdb.MutateOperationDelete, Value: drop},
	}
	if v.QinQEthtype != "" {
		muts = append(muts, model.Mutation{Field: &row.OtherConfig, Mutator: ovsdb.MutateOperationInsert, Value: map[string]string{EthtypeKey: v.QinQEthtype}})
	}
	if len(ids) > 0 {
		muts = append(muts, model.Mutation{Field: &row.ExternalIDs, Mutator: ovsdb.MutateOperationInsert, Value: ids})
	}
	mut, err := c.db.Where(row).Mutate(row, muts...)
	if err != nil {
		return cnierr.Internal("build the port mutation", err)
	}
	return c.transact("reconfigure port "+p.Name, true, append(ops, mut...))
}

// VLANLimit is Open_vSwitch other_config:vlan-limit ("" when unset: OVS's
// default, 1).
func (c *Client) VLANLimit() (string, error) {
	root, err := c.Root()
	if err != nil {
		return "", err
	}
	return root.OtherConfig["vlan-limit"], nil
}
