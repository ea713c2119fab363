package discovery

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/attributes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"
)

// Scheme is the target scheme of the resolver: "etcd:///<service>".
const Scheme = "etcd"

// NewResolver returns the resolver of "etcd:///<service>" targets on client,
// for grpc.WithResolvers. Its connections balance with Policy.
func NewResolver(client *clientv3.Client) resolver.Builder { return &builder{client: client} }

type builder struct{ client *clientv3.Client }

func (b *builder) Scheme() string { return Scheme }

func (b *builder) Build(target resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	service := strings.TrimPrefix(target.Endpoint(), "/")
	ctx, cancel := context.WithCancel(context.Background())
	r := &etcdResolver{client: b.client, service: service, prefix: Prefix + service + "/", cc: cc, cancel: cancel}
	r.config = cc.ParseServiceConfig(`{"loadBalancingConfig":[{"` + Policy + `":{}}]}`)
	go r.watch(ctx)
	return r, nil
}

type etcdResolver struct {
	client  *clientv3.Client
	service string
	prefix  string
	cc      resolver.ClientConn
	config  *serviceconfig.ParseResult
	cancel  context.CancelFunc
}

// watch lists the instances, then follows every change, listing again.
func (r *etcdResolver) watch(ctx context.Context) {
	for ctx.Err() == nil {
		resp, err := r.client.Get(ctx, r.prefix, clientv3.WithPrefix())
		if err != nil {
			r.cc.ReportError(err)
			select { // etcd is away: ask again a little later
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		r.update(resp.Kvs)
		changes := r.client.Watch(ctx, r.prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
		for w := range changes {
			if w.Err() != nil {
				break
			}
			resp, err := r.client.Get(ctx, r.prefix, clientv3.WithPrefix())
			if err != nil {
				r.cc.ReportError(err)
				break
			}
			r.update(resp.Kvs)
		}
	}
}

// The balancer attributes of an address: its Instance, and its service.
type (
	instanceKey struct{}
	serviceKey  struct{}
)

func (r *etcdResolver) update(kvs []*mvccpb.KeyValue) {
	var addrs []resolver.Address
	for _, kv := range kvs {
		var in Instance
		if err := json.Unmarshal(kv.Value, &in); err != nil || in.Addr == "" {
			continue // not ours, or damaged: never a target
		}
		addrs = append(addrs, resolver.Address{Addr: in.Addr, BalancerAttributes: attributes.New(instanceKey{}, in).WithValue(serviceKey{}, r.service)})
	}
	r.cc.UpdateState(resolver.State{Addresses: addrs, ServiceConfig: r.config})
}

func (r *etcdResolver) ResolveNow(resolver.ResolveNowOptions) {}

func (r *etcdResolver) Close() { r.cancel() }
