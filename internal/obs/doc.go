// Package obs is how a node is observed: its Prometheus metrics, in a
// registry of its own per node, and its OpenTelemetry tracing, with the
// trace context that crosses nodes inside envelopes.
//
// The node maps the error each call or cast ends with to an Outcome and
// records it with Metrics.Called or Metrics.Cast; the activation table's
// Hooks count activations started, stopped and misaddressed. Series are
// bounded: past 256 capabilities, further ones share the series of the
// capability label "other", and counting them takes no lock.
//
// Metrics and Tracing are safe for concurrent use.
package obs
