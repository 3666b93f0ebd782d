package console

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta/sqlite"
)

// TestSignOutAcrossClocks: two nodes share a store, and their clocks
// differ by seconds, as NTP leaves them. A sign-out through either node
// voids every session its credentials had, on both, including one the
// node whose clock runs ahead issued just before; and a session signed in
// after it, on the node whose clock runs behind, is good. A sign-out
// voids sessions of that key or token only.
func TestSignOutAcrossClocks(t *testing.T) {
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	slow := &Handler{key: []byte(strings.Repeat("k", 32)), store: store}
	fast := &Handler{key: slow.key, store: store, now: func() time.Time { return time.Now().Add(5 * time.Second) }}
	ctx := t.Context()
	issue := func(h *Handler, key, token string) session {
		t.Helper()
		s, err := h.newSession(ctx, key, token)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	before := issue(fast, "NBKEY", "")
	sameIDToken := issue(fast, "", "NBKEY")
	other := issue(fast, "NBOTHER", "")
	if err := slow.signOut(ctx, before); err != nil {
		t.Fatal(err)
	}
	for _, h := range []*Handler{slow, fast} {
		if err := h.checkSignedOut(ctx, before); !errors.Is(err, errSignedOut) {
			t.Errorf("a session issued before the sign-out (by the node ahead) = %v, want it void", err)
		}
		for _, s := range []session{sameIDToken, other} {
			if err := h.checkSignedOut(ctx, s); err != nil {
				t.Errorf("session of key %q token %q, which did not sign out: %v", s.Key, s.Token, err)
			}
		}
	}

	// Signed out through the node ahead, then in again through the one
	// behind: the new session is good.
	if err := fast.signOut(ctx, before); err != nil {
		t.Fatal(err)
	}
	after := issue(slow, "NBKEY", "")
	for _, h := range []*Handler{slow, fast} {
		if err := h.checkSignedOut(ctx, after); err != nil {
			t.Errorf("a session signed in after the sign-out (by the node behind) = %v, want good", err)
		}
	}
}
