package fastlane

import (
	"bytes"
	"context"
	"hash/maphash"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Encores: answers given again.
//
// A public binary cache answers the same few hundred absent paths again
// and again (every substituter of a fleet asks for the same paths the
// cache lacks), and each answer, a short 403 or 404, costs the server more
// to build than to send: a request, a route, two policy decisions, a
// lookup, an error head. So a handler may offer the answer it gives
// (Offer) to be given again, byte for byte but for its request id and its
// Date, to later requests on the same Listener whose heads are the same
// bytes, without a request being built or the handler run. The offer says
// how to tell that the answer still holds (Encore.Still), checked before
// every repeat, and records each repeat (Encore.Given) as the handler's
// observation of the first would have been recorded, so that metrics and
// logs count every request alike.
//
// An answer is kept only for a head that came before within a while
// (Wanted: a head asked once, as most unique misses are, costs a hash and
// no work of the handler's for an offer), only if it is whole in the connection's buffer (nothing of it
// written yet), at most maxEncoreAnswer bytes, and does not close the
// connection; heads over maxEncoreHead bytes or asking to close are never
// kept. At most maxEncores answers are kept; past that the store starts
// over.
const (
	maxEncoreHead   = 1 << 10
	maxEncoreAnswer = 2 << 10
	maxEncores      = 4096
	encoreSeenSlots = 1 << 14
)

// Encore is what a handler's offer says of its answer.
type Encore interface {
	// Still reports whether the answer is still the one the handler
	// would give; it is called before each repeat, with the connection's
	// context, and must be cheap.
	Still(ctx context.Context) bool
	// NewID returns a fresh request id, of the length of the offered one.
	NewID() string
	// Given records one repeat, sent under request id id to remote,
	// begun at start and taking d.
	Given(remote, id string, start time.Time, d time.Duration)
}

// offerKey finds a fast-lane request's context among r.Context()'s.
type offerKey struct{}

// Wanted reports whether an offer of r's answer would be kept: r came
// through the fast lane, its head may be kept, and the same head came
// before, lately. A handler may skip the work of an offer otherwise. It
// notes r's head as come, so call it once per request.
func Wanted(r *http.Request) bool {
	c, ok := r.Context().Value(offerKey{}).(*reqCtx)
	return ok && c.conn != nil && c.conn.keepable() && c.conn.seenBefore()
}

// seenBefore reports whether the head being served came before, lately,
// and notes it as come.
func (c *conn) seenBefore() bool {
	h := maphash.Bytes(encoreSeed, c.headBytes()) | 1
	slot := &c.l.encores.seen[h%encoreSeenSlots]
	if slot.Load() == h {
		return true
	}
	slot.Store(h)
	return false
}

// Offer offers the answer r is being given, which carries request id id
// (in its headers, and wherever else in its bytes), to be given again as
// e says. It does nothing for a request net/http serves.
func Offer(r *http.Request, id string, e Encore) {
	if c, ok := r.Context().Value(offerKey{}).(*reqCtx); ok && id != "" {
		c.offerID, c.offer = id, e
	}
}

// encores are a Listener's kept answers.
type encores struct {
	mu      sync.RWMutex
	answers map[string]*encore // by request head
	seen    [encoreSeenSlots]atomic.Uint64
}

// encore is one kept answer.
type encore struct {
	e      Encore
	tls    bool
	answer []byte
	ids    []int // where the request id is in answer
	idLen  int
	date   int // where the Date value is in answer; -1: none
}

var encoreSeed = maphash.MakeSeed()

// keepable reports whether the head h, over TLS or not, could have its
// answer kept.
func (c *conn) keepable() bool {
	return !c.h.close && c.h.size <= maxEncoreHead && !c.l.closing.Load()
}

// head returns the bytes of the head being served.
func (c *conn) headBytes() []byte { return c.buf[c.start : c.start+c.h.size] }

// replay gives the head being served a kept answer, if there is one that
// still holds, and reports whether it did.
func (c *conn) replay() bool {
	s := &c.l.encores
	if !c.keepable() {
		return false
	}
	head := c.headBytes()
	s.mu.RLock()
	k := s.answers[string(head)]
	s.mu.RUnlock()
	if k == nil || k.tls != (c.tls != nil) {
		return false
	}
	if !k.e.Still(c.ctx) {
		s.mu.Lock()
		if s.answers[string(head)] == k {
			delete(s.answers, string(head))
		}
		s.mu.Unlock()
		return false
	}
	start := time.Now()
	id := k.e.NewID()
	if len(id) != k.idLen {
		return false
	}
	c.mark = len(c.w.out)
	c.w.out = append(c.w.out, k.answer...)
	out := c.w.out[c.mark:]
	for _, at := range k.ids {
		copy(out[at:], id)
	}
	if k.date >= 0 {
		copy(out[k.date:], httpDate())
	}
	c.w.closeAfter = false
	c.reqGen.Add(1)
	k.e.Given(c.remote, id, start, time.Since(start))
	return true
}

// keep keeps the answer just given to the head being served, as offered
// by its handler, if it can be kept; flushes is c.flushes when the
// handler began.
func (c *conn) keep(id string, e Encore, flushes uint64) {
	w := &c.w
	if !c.keepable() || w.closeAfter || w.err != nil || c.flushes != flushes || len(w.out)-c.mark > maxEncoreAnswer {
		return
	}
	head := c.headBytes()
	s := &c.l.encores
	answer := bytes.Clone(w.out[c.mark:])
	k := &encore{e: e, tls: c.tls != nil, answer: answer, idLen: len(id), date: -1}
	end := bytes.Index(answer, []byte("\r\n\r\n"))
	if end < 0 {
		return
	}
	if i := bytes.Index(answer[:end+2], []byte("\r\nDate: ")); i >= 0 {
		at := i + len("\r\nDate: ")
		if d := httpDate(); at+len(d)+2 <= len(answer) && bytes.HasPrefix(answer[at+len(d):], []byte("\r\n")) {
			k.date = at
		}
	}
	for i := 0; ; {
		j := bytes.Index(answer[i:], []byte(id))
		if j < 0 {
			break
		}
		k.ids = append(k.ids, i+j)
		i += j + len(id)
	}
	s.mu.Lock()
	if len(s.answers) >= maxEncores || s.answers == nil {
		s.answers = make(map[string]*encore)
	}
	s.answers[string(head)] = k
	s.mu.Unlock()
}
