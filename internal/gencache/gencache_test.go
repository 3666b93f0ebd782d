package gencache

import "testing"

// TestPutAfterMove: a load begun under one generation is not stored once
// the generation moved, whether the cache moved before or after the load.
func TestPutAfterMove(t *testing.T) {
	var c Cache[string, int]
	_, t1, ok := c.Get(1, "k")
	if ok {
		t.Fatal("hit in an empty cache")
	}
	if _, _, ok := c.Get(2, "other"); ok { // a newer request moves the cache
		t.Fatal("hit in an empty cache")
	}
	c.Put(t1, "k", 1) // loaded under 1: refused
	if v, _, ok := c.Get(2, "k"); ok {
		t.Errorf("value %d loaded under generation 1 is served at 2", v)
	}
}

// TestNeverBack: a caller that read an older generation neither moves the
// cache back nor fills it, nor empties what the current generation holds.
func TestNeverBack(t *testing.T) {
	var c Cache[string, int]
	_, t2, _ := c.Get(2, "k")
	c.Put(t2, "k", 2)
	_, t1, ok := c.Get(1, "k")
	if ok {
		t.Error("a Get at an older generation was answered")
	}
	c.Put(t1, "k", 1)
	if v, _, ok := c.Get(2, "k"); !ok || v != 2 {
		t.Errorf("Get(2) = %d, %v; want 2, true", v, ok)
	}
}

// TestForget: Forget drops the key and refuses loads begun before it, and
// leaves other keys.
func TestForget(t *testing.T) {
	var c Cache[string, int]
	_, tk, _ := c.Get(0, "a")
	c.Put(tk, "a", 1)
	_, tb, _ := c.Get(0, "b")
	c.Forget("a")
	c.Put(tb, "b", 1) // began before the Forget
	if _, _, ok := c.Get(0, "a"); ok {
		t.Error("forgotten key still served")
	}
	if _, _, ok := c.Get(0, "b"); ok {
		t.Error("a load begun before Forget was stored")
	}
	_, tk, _ = c.Get(0, "a")
	c.Put(tk, "a", 2)
	c.Clear()
	if _, _, ok := c.Get(0, "a"); ok {
		t.Error("Clear left an entry")
	}
}

// TestMaxCost: a Put past the bound empties the cache first.
func TestMaxCost(t *testing.T) {
	c := Cache[string, int]{MaxCost: 10, Cost: func(_ string, v int) int { return v }}
	for k, v := range map[string]int{"a": 6, "b": 6} {
		_, tk, _ := c.Get(0, k)
		c.Put(tk, k, v)
	}
	n := 0
	for _, k := range []string{"a", "b"} {
		if _, _, ok := c.Get(0, k); ok {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d entries of cost 6 held under a bound of 10, want 1", n)
	}
}
