package ovsdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/qinq-cni/qinq/pkg/cnierr"
)

// Timeouts: a CNI verb must not hang on a dead switch.
const (
	dialTimeout  = 10 * time.Second
	applyTimeout = 20 * time.Second
)

// Client is a connection to ovsdb-server with the tables qinq uses mirrored
// in libovsdb's cache.
type Client struct {
	db       client.Client
	endpoint string
}

// Dial connects to endpoint ("unix:/var/run/openvswitch/db.sock",
// "tcp:host:port") and mirrors the tables. Failure is code 50: the plugin
// cannot work on this node without OVSDB.
func Dial(endpoint string) (*Client, error) {
	dbm, err := dbModel()
	if err != nil {
		return nil, cnierr.Internal("build the OVSDB model", err)
	}
	quiet := logr.Discard()
	db, err := client.NewOVSDBClient(dbm, client.WithEndpoint(endpoint), client.WithLogger(&quiet))
	if err != nil {
		return nil, cnierr.Internal("create the OVSDB client", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	if err := db.Connect(ctx); err != nil {
		return nil, cnierr.Unavailable("OVSDB at %s is unreachable (is ovsdb-server running? see ovsdbSocket): %v", endpoint, err)
	}
	mon := db.NewMonitor(client.WithTable(&OpenvSwitch{}), client.WithTable(&Bridge{}),
		client.WithTable(&Port{}), client.WithTable(&Interface{}))
	if _, err := db.Monitor(ctx, mon); err != nil {
		db.Close()
		return nil, cnierr.Unavailable("OVSDB at %s: cannot read the Open_vSwitch database: %v", endpoint, err)
	}
	return &Client{db: db, endpoint: endpoint}, nil
}

// Close ends the connection.
func (c *Client) Close() { c.db.Close() }

// Root returns the single Open_vSwitch row.
func (c *Client) Root() (*OpenvSwitch, error) {
	var rows []OpenvSwitch
	if err := c.db.List(context.Background(), &rows); err != nil {
		return nil, cnierr.Internal("read the Open_vSwitch table", err)
	}
	if len(rows) != 1 {
		return nil, cnierr.Unavailable("OVSDB at %s has %d Open_vSwitch rows, expected 1 (run ovs-vsctl init)", c.endpoint, len(rows))
	}
	return &rows[0], nil
}

// transact runs ops as one transaction and checks the reply for a commit
// error and for every per-operation error. With wait it then waits until
// ovs-vswitchd has applied it, so traffic flows when ADD returns; removals
// do not wait, so DEL works while ovs-vswitchd is down.
func (c *Client) transact(what string, wait bool, ops []ovsdb.Operation) error {
	root, err := c.Root()
	if err != nil {
		return err
	}
	bump, err := c.db.Where(root).Mutate(root, model.Mutation{Field: &root.NextCfg, Mutator: ovsdb.MutateOperationAdd, Value: 1})
	if err != nil {
		return cnierr.Internal(what+": build the next_cfg mutation", err)
	}
	ops = append(ops, bump...)
	ops = append(ops, ovsdb.Operation{Op: ovsdb.OperationSelect, Table: "Open_vSwitch", Where: []ovsdb.Condition{}, Columns: []string{"next_cfg"}})
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	reply, err := c.db.Transact(ctx, ops...)
	if err != nil {
		return cnierr.Internal(what+": OVSDB transaction", err)
	}
	if opErrs, err := ovsdb.CheckOperationResults(reply, ops); err != nil {
		return cnierr.Internal(what+": OVSDB transaction failed", errors.Join(append([]error{err}, asErrors(opErrs)...)...))
	}
	if !wait {
		return nil
	}
	next, ok := intColumn(reply[len(ops)-1], "next_cfg")
	if !ok {
		return cnierr.Internal(what, fmt.Errorf("OVSDB did not return next_cfg: %+v", reply[len(ops)-1]))
	}
	return c.waitApplied(what, next)
}

func asErrors(opErrs []ovsdb.OperationError) []error {
	out := make([]error, 0, len(opErrs))
	for _, e := range opErrs {
		out = append(out, e)
	}
	return out
}

// intColumn extracts an integer column from a select's single reply row.
func intColumn(r ovsdb.OperationResult, col string) (int, bool) {
	if len(r.Rows) != 1 {
		return 0, false
	}
	switch v := r.Rows[0][col].(type) {
	case int:
		return v, true
	case float64:
		return int(v), true
	}
	return 0, false
}

// waitApplied waits until ovs-vswitchd reports cur_cfg >= next, as ovs-vsctl
// does: OVSDB commits at once, the switch applies a moment later. It asks
// the server each time rather than the monitor cache, so a late or
// coalesced update cannot make it wait in vain.
func (c *Client) waitApplied(what string, next int) error {
	deadline := time.Now().Add(applyTimeout)
	sel := ovsdb.Operation{Op: ovsdb.OperationSelect, Table: "Open_vSwitch", Where: []ovsdb.Condition{}, Columns: []string{"cur_cfg"}}
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
		reply, err := c.db.Transact(ctx, sel)
		cancel()
		if err == nil && len(reply) == 1 {
			if cur, ok := intColumn(reply[0], "cur_cfg"); ok && cur >= next {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cnierr.Unavailable("%s: committed to OVSDB, but ovs-vswitchd did not apply it within %s (is ovs-vswitchd running?)", what, applyTimeout)
}
