package caddymodule

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// The readiness gauges read the running config's app: set when its Start
// succeeds, cleared at its Stop unless a newer config's Start replaced it
// (Caddy starts the new config before it stops the old; a Start that fails
// leaves the running one). `caddy validate`, which never starts the app,
// sets nothing. They read Readiness, which does no I/O, so a scrape never
// pings a service: tokengate_ready is the state of opening, and a service
// that stops answering after the start does not turn it 0. The health
// handler's readiness answer (it pings) and the request metrics'
// unavailable outcomes show that.
var runningApp atomic.Pointer[App]

var (
	readyGauge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Name: "ready",
		Help: "1 while tokenize and detokenize serve (every required component opened), 0 while the gateway is starting, waiting for a service, refused or stopped.",
	}, func() float64 {
		if a := runningApp.Load(); a != nil && a.Readiness().Ready {
			return 1
		}
		return 0
	})
	componentsReady = &componentCollector{desc: prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, "", "component_ready"),
		"1 while a component is ready (a provider's breaker closed or half-open, the change feed listening), 0 otherwise, by component: vault, cvv_store, network <name>, change_feed.",
		[]string{"component"}, nil)}
)

// componentCollector reports tokengate_component_ready, one series per
// component of the running config (the set changes with the config, so
// it is collected, not kept in a GaugeVec whose old series would stay).
type componentCollector struct{ desc *prometheus.Desc }

func (c *componentCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *componentCollector) Collect(ch chan<- prometheus.Metric) {
	a := runningApp.Load()
	if a == nil {
		return
	}
	for _, comp := range a.Readiness().Components {
		v := 0.0
		if comp.State == StateReady && comp.Breaker != "open" {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, comp.Name)
	}
}
