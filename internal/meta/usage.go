package meta

import "context"

// Usage is what one bucket holds, summed: the figures of the metrics'
// per-bucket gauges.
type Usage struct {
	Bucket  string
	Objects int64 // objects (every key, narinfos and NARs included)
	Bytes   int64 // sum of the objects' sizes
	Paths   int64 // indexed narinfos (store paths)
	Uploads int64 // multipart uploads begun and not completed or aborted
}

// Usages is the store's summing of every bucket at once.
type Usages interface {
	// Usage returns every bucket's Usage, in name order, buckets holding
	// nothing included. It is one aggregate query (one pass over each of
	// the objects, narinfos and uploads tables), meant to be run every
	// minute or so in the background, never per request.
	Usage(ctx context.Context) ([]Usage, error)
}
