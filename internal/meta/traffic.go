package meta

import "context"

// TrafficHour is one node's counts of one bucket in one hour, as the web
// console's traffic charts keep them (internal/traffic).
type TrafficHour struct {
	Node     string // the node's id (traffic.NodeID)
	Bucket   string
	Hour     int64 // hours since the Unix epoch
	Requests int64
	BytesIn  int64
	BytesOut int64
}

// TrafficStore keeps every node's hourly traffic counters, so that a
// restarted node takes its history back and a chart adds up every node.
//
// Counters are not configuration: they change every few minutes on every
// node, and nothing caches them. So, unlike settings, a save announces
// nothing (Generation does not move, no cache of the read path reloads,
// no notification goes to the other nodes); the rows live in a table of
// their own. The conformance suite (metatest: Traffic, TrafficShared)
// checks this.
type TrafficStore interface {
	// SaveTraffic sets the counts of each row's node, bucket and hour
	// (replacing what they were), and deletes every node's rows of hours
	// before oldest, in one transaction.
	SaveTraffic(ctx context.Context, rows []TrafficHour, oldest int64) error
	// LoadTraffic calls fn with each row of node (every node's when node
	// is "") of hours from since on, ordered by node, bucket and hour. An
	// error from fn ends the scan and is returned unchanged.
	LoadTraffic(ctx context.Context, node string, since int64, fn func(TrafficHour) error) error
}
