package release

import (
	"maps"
	"slices"
)

// WithDefaults returns a copy of p in which every zero field that has a
// documented default holds it: [DefaultStepTimeout], [DefaultOnTimeout],
// each step's [DefaultMinSamples], [DefaultInterval],
// [DefaultConsecutiveErrorLimit], the error-rate metric's [DefaultMargin]
// and [DefaultAlpha], the latency metric's [DefaultQuantile],
// [DefaultMaxRatio] and [DefaultAlpha], each webhook's
// [DefaultWebhookTimeout] and failure action ([WebhookHold] for
// confirm-promotion, [WebhookRollback] for rollback) and each Prometheus
// metric's [DefaultQueryTimeout]. A nil built-in metric becomes the
// default metric; a disabled one is left as it is. p is not changed, and
// the copy shares no slice, map or pointer with it. It does not validate:
// a field that is wrong stays wrong.
func (p *Plan) WithDefaults() *Plan {
	c := *p
	c.Flags = slices.Clone(p.Flags)
	c.Steps = slices.Clone(p.Steps)
	for i := range c.Steps {
		c.Steps[i].Weights = maps.Clone(c.Steps[i].Weights)
		if c.Steps[i].MinSamples == 0 {
			c.Steps[i].MinSamples = DefaultMinSamples
		}
	}
	c.Approval.Steps = slices.Clone(p.Approval.Steps)
	c.Approval.Promoters = slices.Clone(p.Approval.Promoters)
	if c.StepTimeout == 0 {
		c.StepTimeout = Duration(DefaultStepTimeout)
	}
	if c.OnTimeout == "" {
		c.OnTimeout = DefaultOnTimeout
	}
	c.Webhooks = slices.Clone(p.Webhooks)
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		if w.Timeout == 0 {
			w.Timeout = Duration(DefaultWebhookTimeout)
		}
		if w.OnFailure == "" {
			switch w.Type {
			case WebhookConfirmPromotion:
				w.OnFailure = WebhookHold
			case WebhookRollback:
				w.OnFailure = WebhookRollback
			}
		}
	}
	c.Analysis = p.Analysis.withDefaults()
	return &c
}

func (a Analysis) withDefaults() Analysis {
	c := a
	if c.Interval == 0 {
		c.Interval = Duration(DefaultInterval)
	}
	e := ErrorRateMetric{}
	if a.ErrorRate != nil {
		e = *a.ErrorRate
	}
	if !e.Disabled {
		if e.Margin == 0 {
			e.Margin = DefaultMargin
		}
		if e.Alpha == 0 {
			e.Alpha = DefaultAlpha
		}
	}
	c.ErrorRate = &e
	l := LatencyMetric{}
	if a.Latency != nil {
		l = *a.Latency
	}
	if !l.Disabled {
		if l.Quantile == 0 {
			l.Quantile = DefaultQuantile
		}
		if l.Slack == 0 {
			l.Slack = Duration(DefaultLatencySlack)
		}
		if l.MaxRatio == 0 {
			l.MaxRatio = DefaultMaxRatio
		}
		if l.Alpha == 0 {
			l.Alpha = DefaultAlpha
		}
	}
	c.Latency = &l
	limit := DefaultConsecutiveErrorLimit
	if a.ConsecutiveErrorLimit != nil {
		limit = *a.ConsecutiveErrorLimit
	}
	c.ConsecutiveErrorLimit = &limit
	c.Prometheus = slices.Clone(a.Prometheus)
	for i := range c.Prometheus {
		if c.Prometheus[i].Timeout == 0 {
			c.Prometheus[i].Timeout = Duration(DefaultQueryTimeout)
		}
	}
	return c
}
