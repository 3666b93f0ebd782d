package metatest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// The contract of a store across instances (another server, the admin
// CLI), and the points where stores could quietly differ: time precision,
// keys with NUL. See also ScanObjects for byte order.

// testSharedData: what one instance committed, the other reads at once.
func testSharedData(t *testing.T, a meta.Store, reopen Reopen) {
	ctx := t.Context()
	b := reopen(t)
	mustCreateBucket(t, a, "b")
	obj := newObject("b", "k")
	mustPut(t, a, obj)
	checkObject(t, mustObject(t, b, "b", "k"), obj, true)
	if err := b.CreateUser(ctx, meta.User{Name: "alice", Created: when}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.User(ctx, "alice"); err != nil {
		t.Errorf("User through the other instance: %v", err)
	}
	if _, err := b.DeleteObject(ctx, "b", "k", nil); err != nil {
		t.Fatal(err)
	}
	_, err := a.Object(ctx, "b", "k")
	wantErr(t, "Object deleted through the other instance", err, meta.ErrNoSuchKey)
}

// testGenerationShared: every announced change, made through either
// instance, moves the generation both instances read past every value
// either read before the change. The generation is one counter of the
// store, so values from different instances compare.
func testGenerationShared(t *testing.T, a meta.Store, reopen Reopen) {
	ctx := t.Context()
	b := reopen(t)
	insts := []meta.Store{a, b}
	key := meta.SigningKey{Bucket: "b", Name: "k", Secret: "k:AAAA", Created: when}
	steps := []struct {
		name string
		by   int // the instance that makes the change
		fn   func(s meta.Store) error
	}{
		{"CreateBucket", 0, func(s meta.Store) error { return s.CreateBucket(ctx, meta.Bucket{Name: "b", Created: when}) }},
		{"CreateUser", 1, func(s meta.Store) error { return s.CreateUser(ctx, meta.User{Name: "alice", Created: when}) }},
		{"SetUserPolicy", 0, func(s meta.Store) error { return s.SetUserPolicy(ctx, "alice", policyA) }},
		{"PutAccessKey", 1, func(s meta.Store) error {
			return s.PutAccessKey(ctx, meta.AccessKey{ID: "K1", Secret: "s", User: "alice", Created: when, Enabled: true})
		}},
		{"SetAccessKeyEnabled", 0, func(s meta.Store) error { return s.SetAccessKeyEnabled(ctx, "K1", false) }},
		{"PutToken", 1, func(s meta.Store) error { return s.PutToken(ctx, newToken("t1", "alice")) }},
		{"SetBucketPolicy", 0, func(s meta.Store) error { return s.SetBucketPolicy(ctx, "b", policyA) }},
		{"SetSetting", 1, func(s meta.Store) error { return s.SetSetting(ctx, "account", "123456789012") }},
		{"SetCacheSettings", 0, func(s meta.Store) error { return s.SetCacheSettings(ctx, "b", meta.CacheSettings{Priority: 1}) }},
		{"AddSigningKey", 1, func(s meta.Store) error { return s.AddSigningKey(ctx, key) }},
		{"RemoveSigningKey", 0, func(s meta.Store) error { return s.RemoveSigningKey(ctx, "b", "k") }},
		{"DeleteToken", 1, func(s meta.Store) error { return s.DeleteToken(ctx, "t1") }},
		{"DeleteAccessKey", 0, func(s meta.Store) error { return s.DeleteAccessKey(ctx, "K1") }},
		{"DeleteUser", 1, func(s meta.Store) error { return s.DeleteUser(ctx, "alice") }},
		{"DeleteBucket", 0, func(s meta.Store) error { return s.DeleteBucket(ctx, "b") }},
	}
	for _, st := range steps {
		before := max(mustGen(t, a), mustGen(t, b))
		if err := st.fn(insts[st.by]); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		for i, s := range insts {
			if g := mustGen(t, s); g <= before {
				t.Errorf("%s through instance %d: instance %d reads generation %d, want past %d",
					st.name, st.by, i, g, before)
			}
		}
	}
}

// testGenerationMonotonic: while both instances make changes, readers of
// either instance never see the generation go back, and once the changes
// returned both read a value past all that was seen during them.
func testGenerationMonotonic(t *testing.T, a meta.Store, reopen Reopen) {
	ctx := t.Context()
	b := reopen(t)
	insts := []meta.Store{a, b}
	done := make(chan struct{})
	seen := make([]uint64, 2*len(insts)) // the last value of each reader
	var readers sync.WaitGroup
	for r := range seen {
		s := insts[r%len(insts)]
		readers.Go(func() {
			for {
				g, err := s.Generation(ctx)
				if err != nil {
					t.Errorf("Generation: %v", err)
					return
				}
				if g < seen[r] {
					t.Errorf("reader %d: generation went back from %d to %d", r, seen[r], g)
					return
				}
				seen[r] = g
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	var writers sync.WaitGroup
	for w, s := range insts {
		writers.Go(func() {
			for i := range 20 {
				if err := s.SetSetting(ctx, fmt.Sprintf("w%d", w), fmt.Sprint(i)); err != nil {
					t.Errorf("SetSetting: %v", err)
					return
				}
			}
		})
	}
	writers.Wait()
	close(done)
	readers.Wait()
	last := max(mustGen(t, a), mustGen(t, b))
	for _, s := range insts {
		before := mustGen(t, s)
		if err := s.SetSetting(ctx, "final", "x"); err != nil {
			t.Fatal(err)
		}
		for i, x := range insts {
			if g := mustGen(t, x); g <= max(before, last) {
				t.Errorf("after the final change, instance %d reads %d, want past %d", i, g, max(before, last))
			}
		}
		last = max(mustGen(t, a), mustGen(t, b))
	}
	for r, g := range seen {
		if g > last {
			t.Errorf("reader %d saw %d, past the final %d", r, g, last)
		}
	}
}

// nanoTime has nanoseconds that a store may round away.
var nanoTime = time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.FixedZone("UTC+1", 3600))

// checkMicros fails unless got is want in UTC, to within a microsecond.
func checkMicros(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if d := got.Sub(want).Abs(); d >= time.Microsecond || got.Location() != time.UTC {
		t.Errorf("%s: time %v (%v), want %v to the microsecond, in UTC", what, got, got.Location(), want)
	}
}

// testTimePrecision: every stored time reads back in UTC to within a
// microsecond; times a microsecond apart keep their order.
func testTimePrecision(t *testing.T, s meta.Store, reopen Reopen) {
	ctx := t.Context()
	if err := s.CreateBucket(ctx, meta.Bucket{Name: "b", Created: nanoTime}); err != nil {
		t.Fatal(err)
	}
	if bk, err := s.Bucket(ctx, "b"); err != nil {
		t.Fatal(err)
	} else {
		checkMicros(t, "bucket Created", bk.Created, nanoTime)
	}
	o1, o2 := newObject("b", "k1"), newObject("b", "k2")
	o1.Modified, o2.Modified = nanoTime, nanoTime.Add(time.Microsecond)
	mustPut(t, s, o1)
	mustPut(t, s, o2)
	g1, g2 := mustObject(t, s, "b", "k1").Modified, mustObject(t, s, "b", "k2").Modified
	checkMicros(t, "object Modified", g1, o1.Modified)
	checkMicros(t, "object Modified", g2, o2.Modified)
	if !g1.Before(g2) {
		t.Errorf("times a microsecond apart read back as %v and %v", g1, g2)
	}
	listed, err := s.ScanObjects(ctx, meta.ScanQuery{Bucket: "b", Limit: 1})
	if err != nil || len(listed) != 1 {
		t.Fatalf("ScanObjects: %v, %v", listed, err)
	}
	checkMicros(t, "listed Modified", listed[0].Modified, nanoTime)

	u := meta.Upload{Bucket: "b", Key: "u", ID: "upload-1", Initiated: nanoTime}
	mustCreateUpload(t, s, u)
	if got, err := s.Upload(ctx, "b", "u", u.ID); err != nil {
		t.Fatal(err)
	} else {
		checkMicros(t, "upload Initiated", got.Initiated, nanoTime)
	}
	seg := newBlob(10)
	if _, err := s.PutPart(ctx, "b", "u", u.ID, meta.Part{Number: 1, Size: 10, ETag: "e", Modified: nanoTime, Segment: seg}); err != nil {
		t.Fatal(err)
	}
	if parts, err := s.Parts(ctx, "b", "u", u.ID, 0, 0); err != nil || len(parts) != 1 {
		t.Fatalf("Parts: %v, %v", parts, err)
	} else {
		checkMicros(t, "part Modified", parts[0].Modified, nanoTime)
	}

	if err := s.CreateUser(ctx, meta.User{Name: "alice", Created: nanoTime}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.User(ctx, "alice"); err != nil {
		t.Fatal(err)
	} else {
		checkMicros(t, "user Created", got.Created, nanoTime)
	}
	if err := s.PutAccessKey(ctx, meta.AccessKey{ID: "K1", Secret: "s", User: "alice", Created: nanoTime, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.AccessKey(ctx, "K1"); err != nil {
		t.Fatal(err)
	} else {
		checkMicros(t, "access key Created", got.Created, nanoTime)
	}
	tok := newToken("t1", "alice")
	tok.Created, tok.Expires = nanoTime, nanoTime.Add(time.Hour)
	if err := s.PutToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	// Read through another instance: nothing is kept in memory.
	other := reopen(t)
	if got, err := other.Token(ctx, "t1"); err != nil {
		t.Fatal(err)
	} else {
		checkMicros(t, "token Created", got.Created, tok.Created)
		checkMicros(t, "token Expires", got.Expires, tok.Expires)
	}
	if err := s.AddSigningKey(ctx, meta.SigningKey{Bucket: "b", Name: "k", Secret: "k:AAAA", Created: nanoTime}); err != nil {
		t.Fatal(err)
	}
	if keys, err := other.SigningKeys(ctx, "b"); err != nil || len(keys) != 1 {
		t.Fatalf("SigningKeys: %v, %v", keys, err)
	} else {
		checkMicros(t, "signing key Created", keys[0].Created, nanoTime)
	}
}

// testNULKeys: a key with a NUL byte is refused on writes
// (meta.ErrInvalidKey) and missing on reads; it never matches the key
// before the NUL.
func testNULKeys(t *testing.T, s meta.Store, _ Reopen) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	mustPut(t, s, newObject("b", "a"))
	for _, key := range []string{"a\x00", "a\x00b", "\x00"} {
		_, err := s.PutObject(ctx, newObject("b", key), nil)
		wantErr(t, fmt.Sprintf("PutObject(%q)", key), err, meta.ErrInvalidKey)
		err = s.CreateUpload(ctx, meta.Upload{Bucket: "b", Key: key, ID: "upload-" + key, Initiated: when})
		wantErr(t, fmt.Sprintf("CreateUpload(%q)", key), err, meta.ErrInvalidKey)
		_, err = s.Object(ctx, "b", key)
		wantErr(t, fmt.Sprintf("Object(%q)", key), err, meta.ErrNoSuchKey)
	}
	if objs, err := s.ScanObjects(ctx, meta.ScanQuery{Bucket: "b", Prefix: "a\x00"}); err != nil || len(objs) != 0 {
		t.Errorf("ScanObjects(prefix \"a\\x00\") = %d objects, %v; want none", len(objs), err)
	}
	if objs, err := s.ScanObjects(ctx, meta.ScanQuery{Bucket: "b"}); err != nil || len(objs) != 1 || objs[0].Key != "a" {
		t.Errorf("ScanObjects = %v, %v; want just \"a\"", objs, err)
	}
	if ups, err := s.ScanUploads(ctx, meta.ScanQuery{Bucket: "b"}); err != nil || len(ups) != 0 {
		t.Errorf("ScanUploads = %v, %v; want none", ups, err)
	}
	if meta.CheckKey("a") != nil || meta.CheckKey("é/😀") != nil {
		t.Error("CheckKey refuses a key without NUL")
	}
}
