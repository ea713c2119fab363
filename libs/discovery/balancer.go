package discovery

import (
	"sync/atomic"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/base"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/monoreel/monoreel/libs/coloring"
)

// Policy is the balancer of "etcd:///" targets: round robin within the
// caller's region, any region when none there is ready, shadow traffic only to
// shadow-capable instances (coloring.Pick decides which may take a call).
const Policy = "monoreel_region"

func init() {
	balancer.Register(base.NewBalancerBuilder(Policy, pickerBuilder{}, base.Config{}))
}

type pickerBuilder struct{}

func (pickerBuilder) Build(info base.PickerBuildInfo) balancer.Picker {
	p := &picker{byAddr: map[string]balancer.SubConn{}}
	for sc, sci := range info.ReadySCs {
		in, _ := sci.Address.BalancerAttributes.Value(instanceKey{}).(Instance)
		in.Addr = sci.Address.Addr
		p.byAddr[in.Addr] = sc
		p.endpoints = append(p.endpoints, coloring.Endpoint{Addr: in.Addr, Region: in.Region, Healthy: true, ShadowCapable: in.ShadowCapable})
	}
	return p
}

type picker struct {
	endpoints []coloring.Endpoint
	byAddr    map[string]balancer.SubConn
	next      atomic.Uint64
}

func (p *picker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	if len(p.endpoints) == 0 {
		return balancer.PickResult{}, balancer.ErrNoSubConnAvailable
	}
	c, _ := coloring.FromContext(info.Ctx)
	candidates, err := coloring.Pick(p.endpoints, c)
	if err != nil {
		return balancer.PickResult{}, status.Error(codes.Unavailable, err.Error())
	}
	e := candidates[p.next.Add(1)%uint64(len(candidates))]
	return balancer.PickResult{SubConn: p.byAddr[e.Addr]}, nil
}
