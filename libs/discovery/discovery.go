// Package discovery runs services as fleets on etcd: each instance registers
// itself under a lease (address, region, version, whether it takes shadow
// traffic), clients resolve "etcd:///<service>" to the live instances and stay
// current as they come and go, and the "monoreel_region" balancer sends each
// call round robin to the instances in the caller's region (libs/coloring),
// falling back to any region, and shadow traffic only to shadow-capable ones.
//
// A killed instance leaves the set when its lease runs out; a draining one
// (SIGTERM) deregisters first, before it stops serving.
package discovery

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Prefix is where instances register in etcd: Prefix<service>/<address>.
const Prefix = "discovery/"

// Instance is one running instance of a service.
type Instance struct {
	Addr          string `json:"addr"`
	Region        string `json:"region,omitempty"`
	Version       string `json:"version,omitempty"`
	ShadowCapable bool   `json:"shadow_capable,omitempty"`
}

// Registration is an instance's presence in etcd.
type Registration struct {
	client *clientv3.Client
	lease  clientv3.LeaseID
	stop   context.CancelFunc
}

// Register puts in under service, on a lease of ttl kept alive until
// Deregister or until the process dies (then etcd removes it after ttl).
func Register(ctx context.Context, client *clientv3.Client, service string, in Instance, ttl time.Duration) (*Registration, error) {
	value, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	grant, err := client.Grant(ctx, max(int64(ttl/time.Second), 1))
	if err != nil {
		return nil, fmt.Errorf("discovery: lease: %w", err)
	}
	if _, err := client.Put(ctx, Prefix+service+"/"+in.Addr, string(value), clientv3.WithLease(grant.ID)); err != nil {
		client.Revoke(context.Background(), grant.ID)
		return nil, fmt.Errorf("discovery: registering %s of %s: %w", in.Addr, service, err)
	}
	keep, stop := context.WithCancel(context.Background())
	alive, err := client.KeepAlive(keep, grant.ID)
	if err != nil {
		stop()
		client.Revoke(context.Background(), grant.ID)
		return nil, fmt.Errorf("discovery: keeping the lease alive: %w", err)
	}
	go func() {
		for range alive { // the client renews; its answers need draining
		}
	}()
	return &Registration{client: client, lease: grant.ID, stop: stop}, nil
}

// Deregister takes the instance out of the set at once: clients stop sending
// it new calls while it finishes the ones in flight.
func (r *Registration) Deregister(ctx context.Context) error {
	r.stop()
	_, err := r.client.Revoke(ctx, r.lease)
	return err
}
