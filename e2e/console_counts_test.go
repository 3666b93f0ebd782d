package e2e

import (
	"net/http"
	"testing"
)

// TestConsoleCountsAcrossNodes: a node keeps a bucket's counts (paths,
// NAR bytes) for its pages only while no object of the bucket changed on
// any node: a push through one node shows on the other's next page, and
// a page after that reads nothing new.
func TestConsoleCountsAcrossNodes(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 2)
	a, b := c.Nodes[0], c.Nodes[1]
	c.admin(t, "bucket", "create", "shared", "--public")
	br := consoleBrowser(t)
	page := "http://" + b.Addr + "/-/ui/b/shared"
	count := func(want string) {
		t.Helper()
		if st := br.open(page); st != http.StatusOK {
			t.Fatalf("GET %s: %d", page, st)
		}
		if got := br.text("#paths"); got != want {
			t.Errorf("node b's page of bucket shared: %s paths, want %s", got, want)
		}
	}
	count("0")
	count("0")
	base := consolePush(t, a, "shared", "counted-base-1.0")
	count("1")
	consolePush(t, a, "shared", "counted-top-1.0", base)
	count("2")
	if st := br.open("http://" + b.Addr + "/-/ui/"); st != http.StatusOK {
		t.Fatalf("GET the buckets page: %d", st)
	}
	if row := br.text(`tr:has(a[href="/-/ui/b/shared"]) td[data-label="Paths"]`); row != "2" {
		t.Errorf("node b's buckets page: %s paths in shared, want 2", row)
	}
}
