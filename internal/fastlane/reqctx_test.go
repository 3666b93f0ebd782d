package fastlane

import (
	"context"
	"errors"
	"testing"
	"time"
)

type reqCtxTestKey struct{}

// TestReqCtxLikeWithCancel checks that a request's context behaves as
// context.WithCancel's would, whichever of its parts a handler touches
// first, before or after the cancellation.
func TestReqCtxLikeWithCancel(t *testing.T) {
	parent := context.WithValue(context.Background(), reqCtxTestKey{}, "conn")
	cases := map[string]func(t *testing.T, c *reqCtx){
		"derived before cancel": func(t *testing.T, c *reqCtx) {
			d, stop := context.WithTimeout(c, time.Hour)
			defer stop()
			c.cancel()
			waitDone(t, d)
			if !errors.Is(d.Err(), context.Canceled) {
				t.Fatalf("derived Err = %v", d.Err())
			}
		},
		"done before cancel": func(t *testing.T, c *reqCtx) {
			done := c.Done()
			c.cancel()
			<-done
		},
		"done after cancel": func(t *testing.T, c *reqCtx) {
			c.cancel()
			waitDone(t, c)
		},
		"cause after cancel": func(t *testing.T, c *reqCtx) {
			c.cancel()
			if err := context.Cause(c); !errors.Is(err, context.Canceled) {
				t.Fatalf("Cause = %v", err)
			}
		},
		"afterfunc": func(t *testing.T, c *reqCtx) {
			ran := make(chan struct{})
			context.AfterFunc(c, func() { close(ran) })
			c.cancel()
			<-ran
		},
		"derived after cancel": func(t *testing.T, c *reqCtx) {
			c.cancel()
			d, stop := context.WithCancel(c)
			defer stop()
			waitDone(t, d)
		},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			c := &reqCtx{parent: parent}
			if c.Err() != nil {
				t.Fatal("Err before cancel")
			}
			if c.Value(reqCtxTestKey{}) != "conn" {
				t.Fatal("Value does not reach the connection's context")
			}
			f(t, c)
			if !errors.Is(c.Err(), context.Canceled) {
				t.Fatalf("Err = %v", c.Err())
			}
			if c.Value(reqCtxTestKey{}) != "conn" {
				t.Fatal("Value lost after cancel")
			}
		})
	}
}

// TestReqCtxParentCancel checks that cancelling the connection's context
// reaches the request's, lazily made or not.
func TestReqCtxParentCancel(t *testing.T) {
	for _, early := range []bool{false, true} {
		parent, cancel := context.WithCancel(context.Background())
		c := &reqCtx{parent: parent}
		if early {
			c.Done()
		}
		cancel()
		if !errors.Is(c.Err(), context.Canceled) {
			t.Fatalf("early=%v: Err = %v", early, c.Err())
		}
		waitDone(t, c)
	}
}

func waitDone(t *testing.T, c context.Context) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("context not cancelled")
	}
}
