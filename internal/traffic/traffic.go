// Package traffic counts requests and bytes per bucket and hour, for the
// web console's traffic charts: the server's own counters, not an
// external Prometheus.
//
// Recording is on the request path of every narinfo hit, so it costs a
// lock-free map load and three atomic adds: each bucket has a ring of
// Hours hourly slots, and the slot of the current hour is found by the
// hour number modulo the ring. A slot left from an older hour is reset
// under the bucket's lock, once an hour. At most MaxBuckets buckets are
// counted by name; the rest are added up under Other, so a client sending
// random bucket names cannot grow memory. A bucket without a request for
// Hours (deleted, most likely) loses its ring at the next save, and its
// place is free again.
//
// History survives restarts and adds up across nodes through the metadata
// store's traffic table (meta.TrafficStore), one row per node, bucket and
// hour: every node writes the hours of its own that changed (Save), and
// charts add up every node's rows (Load). A node's id stays the same
// across its restarts (see NodeID), so a restarted node takes its history
// back. The table is not configuration: its writes announce nothing, so
// they leave the caches of the read path alone.
package traffic

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// Hours is how much history a ring keeps: seven days of hours.
const Hours = 7 * 24

// MaxBuckets bounds the buckets counted by name.
const MaxBuckets = 256

// Other is the name the buckets past MaxBuckets are counted under, and
// requests that name no bucket.
const Other = "(other)"

// slot is one hour of one bucket.
type slot struct {
	hour     atomic.Int64 // hours since the Unix epoch this slot counts
	requests atomic.Int64
	in       atomic.Int64
	out      atomic.Int64
}

// ring is one bucket's history.
type ring struct {
	mu    sync.Mutex // held to move a slot to a new hour, and to retire the ring
	slots [Hours]slot
	dead  bool // retired: idle for Hours and out of the map (see prune)
}

// Counters counts traffic. The zero value is not ready: use New.
type Counters struct {
	now   func() time.Time
	mu    sync.Mutex                       // held to add a bucket
	rings atomic.Pointer[map[string]*ring] // copied on write
	dirty atomic.Bool

	saveMu sync.Mutex // held by Save and RestoreFrom
	saved  History    // what the store holds of this node, as of the last save
}

// New returns empty counters; now is the clock (nil: time.Now).
func New(now func() time.Time) *Counters {
	if now == nil {
		now = time.Now
	}
	c := &Counters{now: now}
	m := map[string]*ring{}
	c.rings.Store(&m)
	return c
}

// Record counts one request to bucket ("" for none) that received in
// bytes and sent out bytes.
func (c *Counters) Record(bucket string, in, out int64) {
	if c != nil {
		c.RecordClaim(bucket, true, in, out, c.now())
	}
}

// RecordClaim is Record for a request that ended at at (the caller's
// clock: a request's observer has read it already) and may name a bucket
// that does not exist: unless claim (the answer showed the bucket
// exists), a bucket not counted yet is counted under Other, so that names
// strangers try cannot take the named places.
func (c *Counters) RecordClaim(bucket string, claim bool, in, out int64, at time.Time) {
	if c == nil {
		return
	}
	if !claim {
		if _, ok := (*c.rings.Load())[bucket]; !ok {
			bucket = Other
		}
	}
	s := c.slot(bucket, at.Unix()/3600)
	s.requests.Add(1)
	if in > 0 {
		s.in.Add(in)
	}
	if out > 0 {
		s.out.Add(out)
	}
	if !c.dirty.Load() {
		c.dirty.Store(true)
	}
}

// ring returns bucket's ring, adding it (or folding it into Other) on
// first use.
func (c *Counters) ring(bucket string) *ring {
	if bucket == "" {
		bucket = Other
	}
	if r, ok := (*c.rings.Load())[bucket]; ok {
		return r
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m := *c.rings.Load()
	if r, ok := m[bucket]; ok {
		return r
	}
	if len(m) >= MaxBuckets {
		bucket = Other
		if r, ok := m[bucket]; ok {
			return r
		}
	}
	next := make(map[string]*ring, len(m)+1)
	for k, v := range m {
		next[k] = v
	}
	r := &ring{}
	next[bucket] = r
	c.rings.Store(&next)
	return r
}

// slot returns bucket's slot of hour h, adding the bucket's ring again if
// it was retired meanwhile.
func (c *Counters) slot(bucket string, h int64) *slot {
	for {
		if s := c.ring(bucket).slot(h); s != nil {
			return s
		}
	}
}

// slot returns the slot of hour h, reset if it last counted an older
// hour; nil if the ring was retired. A retired ring's slots all count
// hours older than the window, so a current hour always takes the lock,
// which sees that.
func (r *ring) slot(h int64) *slot {
	s := &r.slots[h%Hours]
	if s.hour.Load() == h {
		return s
	}
	r.mu.Lock()
	if r.dead {
		r.mu.Unlock()
		return nil
	}
	if s.hour.Load() < h {
		s.requests.Store(0)
		s.in.Store(0)
		s.out.Store(0)
		s.hour.Store(h)
	}
	r.mu.Unlock()
	return s
}

// Hour is one hour's counts of one bucket.
type Hour struct {
	Requests int64 `json:"r"`
	In       int64 `json:"i"`
	Out      int64 `json:"o"`
}

func (h *Hour) add(o Hour) {
	h.Requests += o.Requests
	h.In += o.In
	h.Out += o.Out
}

// History is counts by bucket and hour (hours since the Unix epoch).
type History map[string]map[int64]Hour

// Since returns the hours of hours from t's hour on. A bucket deleted and
// made again under its name is counted under the name still: its charts
// start at its creation, so that the hours of its predecessor do not show
// (those of the hour it was made in do).
func Since(hours map[int64]Hour, t time.Time) map[int64]Hour {
	from := t.Unix() / 3600
	out := make(map[int64]Hour, len(hours))
	for h, v := range hours {
		if h >= from {
			out[h] = v
		}
	}
	return out
}

// Add adds o's counts to h.
func (h History) Add(o History) {
	for b, hours := range o {
		for hr, v := range hours {
			h.add(b, hr, v)
		}
	}
}

func (h History) add(bucket string, hour int64, v Hour) {
	m := h[bucket]
	if m == nil {
		m = map[int64]Hour{}
		h[bucket] = m
	}
	cur := m[hour]
	cur.add(v)
	m[hour] = cur
}

// Snapshot returns the counts of the last Hours hours.
func (c *Counters) Snapshot() History {
	out := History{}
	oldest := c.now().Unix()/3600 - Hours + 1
	for b, r := range *c.rings.Load() {
		for i := range r.slots {
			s := &r.slots[i]
			h := s.hour.Load()
			if h < oldest {
				continue
			}
			v := Hour{Requests: s.requests.Load(), In: s.in.Load(), Out: s.out.Load()}
			if v != (Hour{}) {
				out.add(b, h, v)
			}
		}
	}
	return out
}

// Restore adds counts saved before (by this node, before a restart) to
// the rings, dropping hours older than the ring.
func (c *Counters) Restore(h History) {
	now := c.now().Unix() / 3600
	for b, hours := range h {
		for hr, v := range hours {
			if hr <= now-Hours || hr > now {
				continue
			}
			s := c.slot(b, hr)
			if s.hour.Load() != hr {
				continue // the slot counts a newer hour already
			}
			s.requests.Add(v.Requests)
			s.in.Add(v.In)
			s.out.Add(v.Out)
		}
	}
}

// prune retires the rings without a request in the last Hours hours: the
// buckets deleted (or long unused) since, whose history the charts no
// longer show. Without it they kept their rings, and their places under
// MaxBuckets, until a restart.
func (c *Counters) prune() {
	oldest := c.oldest()
	c.mu.Lock()
	defer c.mu.Unlock()
	m := *c.rings.Load()
	var idle []string
	for b, r := range m {
		r.mu.Lock()
		if r.idleSince(oldest) {
			r.dead = true
			idle = append(idle, b)
		}
		r.mu.Unlock()
	}
	if len(idle) == 0 {
		return
	}
	next := maps.Clone(m)
	for _, b := range idle {
		delete(next, b)
	}
	c.rings.Store(&next)
}

// idleSince reports whether every slot counts an hour before oldest (or
// none). The caller holds r.mu, so no slot moves to a new hour meanwhile.
func (r *ring) idleSince(oldest int64) bool {
	for i := range r.slots {
		if r.slots[i].hour.Load() >= oldest {
			return false
		}
	}
	return true
}
