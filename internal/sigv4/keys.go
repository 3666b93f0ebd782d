package sigv4

import (
	"crypto/sha256"
	"sync"
)

const (
	hmacBlock     = 64 // SHA-256 block size
	maxCachedKeys = 4096
)

// hmacScratch holds the inner-hash input of hmacSHA256 so that signing a
// string-to-sign does not allocate.
type hmacScratch struct{ buf []byte }

var scratchPool = sync.Pool{New: func() any { return &hmacScratch{buf: make([]byte, 0, 1024)} }}

// hmacSHA256 returns HMAC-SHA256(key, msg) as defined by RFC 2104. It is
// crypto/hmac without its per-call allocations (a new hmac.Hash costs five),
// which matters because every request computes at least one; the test checks
// it against crypto/hmac.
func hmacSHA256(key, msg []byte) [sha256.Size]byte {
	var k [hmacBlock]byte
	if len(key) > hmacBlock {
		s := sha256.Sum256(key)
		copy(k[:], s[:])
	} else {
		copy(k[:], key)
	}
	s := scratchPool.Get().(*hmacScratch)
	b := s.buf[:0]
	for _, c := range k {
		b = append(b, c^0x36)
	}
	b = append(b, msg...)
	inner := sha256.Sum256(b)
	if cap(b) <= 64<<10 {
		s.buf = b[:0]
		scratchPool.Put(s)
	}
	var o [hmacBlock + sha256.Size]byte
	for i, c := range k {
		o[i] = c ^ 0x5c
	}
	copy(o[hmacBlock:], inner[:])
	return sha256.Sum256(o[:])
}

// deriveKey computes the SigV4 signing key for one day, region and service.
func deriveKey(secret, date, region, service string) [sha256.Size]byte {
	k := hmacSHA256([]byte("AWS4"+secret), []byte(date))
	k = hmacSHA256(k[:], []byte(region))
	k = hmacSHA256(k[:], []byte(service))
	return hmacSHA256(k[:], []byte("aws4_request"))
}

type keyID struct{ accessKey, secret, date, region, service string }

// keyCache remembers derived signing keys, so a client costs four HMACs per
// day and region instead of per request. The secret is part of the key so a
// rotated secret never meets a stale key. It is bounded: when full, an
// arbitrary entry is dropped (they are cheap to recompute).
type keyCache struct {
	mu sync.Mutex
	m  map[keyID][sha256.Size]byte
}

func (c *keyCache) get(accessKey, secret, date, region, service string) [sha256.Size]byte {
	id := keyID{accessKey, secret, date, region, service}
	c.mu.Lock()
	k, ok := c.m[id]
	c.mu.Unlock()
	if ok {
		return k
	}
	k = deriveKey(secret, date, region, service)
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[keyID][sha256.Size]byte)
	}
	if len(c.m) >= maxCachedKeys {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[id] = k
	c.mu.Unlock()
	return k
}
