package s3api

import (
	"net/http/httptest"
	"testing"

	"github.com/nixbucket/nixbucket/internal/observe"
)

// TestOperationsTable: every routed operation has one index, Unknown is
// 0, and only the binary-cache reads and uploads are the nix protocol.
func TestOperationsTable(t *testing.T) {
	ops := Operations()
	if ops[0].Name != opUnknown {
		t.Errorf("operation 0 is %q, want %q", ops[0].Name, opUnknown)
	}
	seen := map[string]bool{}
	for i, op := range ops {
		if seen[op.Name] {
			t.Errorf("operation %q twice", op.Name)
		}
		seen[op.Name] = true
		if opIndex[op.Name] != i {
			t.Errorf("opIndex[%q] = %d, want %d", op.Name, opIndex[op.Name], i)
		}
		nix := false
		for _, n := range nixNames {
			nix = nix || op.Name == n || op.Name == putPrefix+n
		}
		if op.Nix != nix {
			t.Errorf("%s: Nix %v, want %v", op.Name, op.Nix, nix)
		}
	}
	for _, r := range routes {
		if !seen[r.op] {
			t.Errorf("route %s has no operation index", r.op)
		}
	}
}

// TestNoteNix: a GET or HEAD of a binary-cache key over the Nix read
// path is noted as that read, and a plain PUT of one (nix copy --to
// http://…) as its upload; signed, they stay GetObject and PutObject;
// narinfo reads are marked either way.
func TestNoteNix(t *testing.T) {
	for _, c := range []struct {
		method, key string
		plain       bool
		op          string
		narinfo     bool
	}{
		{"GET", "nix-cache-info", true, opCacheInfo, false},
		{"HEAD", "0123456789abcdfghijklmnpqrsvwxyz.narinfo", true, opNarinfo, true},
		{"GET", "0123456789abcdfghijklmnpqrsvwxyz.narinfo", false, "GetObject", true},
		{"GET", "nar/abc.nar.zst", true, opNar, false},
		{"GET", "0123456789abcdfghijklmnpqrsvwxyz.ls", true, opListing, false},
		{"GET", "log/abc-foo.drv", true, opLog, false},
		{"GET", "hello.txt", true, "GetObject", false},
		{"PUT", "x.narinfo", true, "PutNarinfo", false},
		{"PUT", "x.narinfo", false, "PutObject", false},
		{"PUT", "nar/abc.nar.xz", true, "PutNar", false},
		{"PUT", "abc.ls", true, "PutListing", false},
		{"PUT", "log/abc-foo.drv", true, "PutLog", false},
		{"PUT", "nix-cache-info", true, "PutCacheInfo", false},
		{"PUT", "hello.txt", true, "PutObject", false},
		{"DELETE", "x.narinfo", true, "DeleteObject", false},
	} {
		q, _ := testRequest(t, &Handler{}, c.method, "/b/"+c.key, false)
		q.note = new(observe.Note)
		q.rt = find(q)
		q.note.Op = q.rt.opIndex
		q.noteNix(c.plain)
		if got := operations[q.note.Op].Name; got != c.op || q.note.Narinfo != c.narinfo {
			t.Errorf("%s %s plain=%v: %s narinfo=%v, want %s narinfo=%v", c.method, c.key, c.plain, got, q.note.Narinfo, c.op, c.narinfo)
		}
	}
}

// TestPlainGuess: a request whose authentication failed is the Nix read
// path unless it was signed the S3 way or came from an S3 client.
func TestPlainGuess(t *testing.T) {
	for _, c := range []struct {
		auth, query, ua string
		want            bool
	}{
		{"Basic eDp5", "", "curl/8 Nix/2.8", true},
		{"Bearer nbt_x_y", "", "", true},
		{"AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request", "", "", false},
		{"AWS AK:sig", "", "", false},
		{"", "X-Amz-Credential=AK%2F2026", "", false},
		{"", "AWSAccessKeyId=AK&Signature=x", "", false},
		{"", "", "aws-cli/1.45", false},
	} {
		r := httptest.NewRequest("GET", "/b/k?"+c.query, nil)
		r.Header.Set("Authorization", c.auth)
		r.Header.Set("User-Agent", c.ua)
		if got := plainGuess(r); got != c.want {
			t.Errorf("%q %q %q: %v, want %v", c.auth, c.query, c.ua, got, c.want)
		}
	}
}
