// Package ovsdb is qinq's typed access to the Open_vSwitch database through
// libovsdb (never ovs-vsctl): the rows qinq reads, one checked transaction
// per change, and a port's VLAN columns as one value.
package ovsdb

import "github.com/ovn-org/libovsdb/model"

// The models cover only the columns qinq reads or writes; libovsdb checks
// them against the server's schema when it connects.

// OpenvSwitch is the root row of the Open_vSwitch table.
type OpenvSwitch struct {
	UUID        string            `ovsdb:"_uuid"`
	OtherConfig map[string]string `ovsdb:"other_config"`
	// NextCfg is bumped by every transaction that wants to know when
	// ovs-vswitchd has applied it: ovs-vswitchd copies it to CurCfg then.
	NextCfg int `ovsdb:"next_cfg"`
	CurCfg  int `ovsdb:"cur_cfg"`
}

// Bridge is a row of the Bridge table.
type Bridge struct {
	UUID  string   `ovsdb:"_uuid"`
	Name  string   `ovsdb:"name"`
	Ports []string `ovsdb:"ports"`
}

// Port is a row of the Port table.
type Port struct {
	UUID        string            `ovsdb:"_uuid"`
	Name        string            `ovsdb:"name"`
	Interfaces  []string          `ovsdb:"interfaces"`
	VLANMode    *string           `ovsdb:"vlan_mode"`
	Tag         *int              `ovsdb:"tag"`
	Trunks      []int             `ovsdb:"trunks"`
	CVlans      []int             `ovsdb:"cvlans"`
	OtherConfig map[string]string `ovsdb:"other_config"`
	ExternalIDs map[string]string `ovsdb:"external_ids"`
}

// Interface is a row of the Interface table.
type Interface struct {
	UUID  string  `ovsdb:"_uuid"`
	Name  string  `ovsdb:"name"`
	MTU   *int    `ovsdb:"mtu"`
	Error *string `ovsdb:"error"`
}

// dbModel is the client side of the Open_vSwitch database.
func dbModel() (model.ClientDBModel, error) {
	return model.NewClientDBModel("Open_vSwitch", map[string]model.Model{
		"Open_vSwitch": &OpenvSwitch{},
		"Bridge":       &Bridge{},
		"Port":         &Port{},
		"Interface":    &Interface{},
	})
}
