package workflow

import (
	"context"
	"log/slog"
	"strings"

	"github.com/monoreel/monoreel/libs/breaker"
	"github.com/monoreel/monoreel/libs/config"
)

// FollowRules applies the breaker rules under prefix in the config center (keys
// prefix+"transcode", prefix+"aitag", prefix+"cdnpush", in breaker.ParseRule's
// format) now and whenever they change, until ctx ends. A deleted rule restores
// the breaker's rule at start; one that does not parse is logged, naming the key
// and the problem, and the breaker keeps its current rule.
func FollowRules(ctx context.Context, cfg *config.Client, prefix string, breakers map[string]*breaker.Breaker, log *slog.Logger) {
	initial := map[string]breaker.Rule{}
	for name, b := range breakers {
		initial[name] = b.Rule()
	}
	cfg.Follow(ctx, prefix, func(e config.Event) {
		name := strings.TrimPrefix(e.KV.Key, prefix)
		b, ok := breakers[name]
		if !ok {
			log.Warn("ignoring a breaker rule for an unknown downstream", "key", e.KV.Key)
			return
		}
		rule := initial[name]
		if e.Type == config.Put {
			var err error
			if rule, err = breaker.ParseRule(e.KV.Value); err != nil {
				log.Error("keeping the current breaker rule: the new one is invalid", "key", e.KV.Key, "err", err)
				return
			}
		}
		if err := b.SetRule(rule); err != nil {
			log.Error("keeping the current breaker rule", "key", e.KV.Key, "err", err)
			return
		}
		log.Info("breaker rule changed", "downstream", name, "rule", rule)
	})
}
