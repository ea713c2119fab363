package discovery

import (
	"sync/atomic"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/base"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/monoreel/monoreel/libs/coloring"
	commonv1 "github.com/monoreel/monoreel/proto/common/v1"
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
		p.service, _ = sci.Address.BalancerAttributes.Value(serviceKey{}).(string)
		in.Addr = sci.Address.Addr
		p.byAddr[in.Addr] = sc
		p.endpoints = append(p.endpoints, coloring.Endpoint{Addr: in.Addr, Region: in.Region, Healthy: true, ShadowCapable: in.ShadowCapable})
	}
	return p
}

// ReasonInstanceGone is the ErrorInfo reason (domain "monoreel.discovery") of a
// call failed because the instance its Sticky names is gone. The code is
// Unavailable, as gRPC allows no other from a balancer; the reason is what
// tells this from an instance that merely cannot be reached for a moment.
const ReasonInstanceGone = "INSTANCE_GONE"

func gone(addr string) error {
	st := status.Newf(codes.Unavailable, "discovery: instance %s is gone, and what it held with it", addr)
	if withInfo, err := st.WithDetails(&commonv1.ErrorInfo{Reason: ReasonInstanceGone, Domain: "monoreel.discovery"}); err == nil {
		st = withInfo
	}
	return st.Err()
}

type picker struct {
	service   string // the one of every instance
	endpoints []coloring.Endpoint
	byAddr    map[string]balancer.SubConn
	next      atomic.Uint64
}

func (p *picker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	if len(p.endpoints) == 0 {
		return balancer.PickResult{}, balancer.ErrNoSubConnAvailable
	}
	var pickErr error
	pick := func() string {
		c, _ := coloring.FromContext(info.Ctx)
		candidates, err := coloring.Pick(p.endpoints, c)
		if err != nil {
			pickErr = status.Error(codes.Unavailable, err.Error())
			return ""
		}
		return candidates[p.next.Add(1)%uint64(len(candidates))].Addr
	}
	addr := ""
	if s, ok := info.Ctx.Value(stickyKey{}).(*Sticky); ok && s.service == p.service {
		addr = s.pin(pick)
	} else {
		addr = pick()
	}
	if pickErr != nil {
		return balancer.PickResult{}, pickErr
	}
	sc, ok := p.byAddr[addr]
	if !ok {
		return balancer.PickResult{}, gone(addr)
	}
	return balancer.PickResult{SubConn: sc}, nil
}
