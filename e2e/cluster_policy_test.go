package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClusterChanges: a change made on one node, or by the admin CLI
// beside the nodes, is enforced by every node at its next request, whatever
// it kept in memory from the requests before: a bucket policy set and
// removed (an anonymous GET flips from denied to 200 and back), a user's
// access key disabled and enabled, and a bucket's nix-cache-info settings.
// Each check comes right after the change returned, and every node has
// just answered the same request under the old state.
func TestClusterChanges(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	nodes := c.Nodes
	root := newRawS3(nodes[0].AccessKey, nodes[0].SecretKey)
	anon := newRawS3("", "")
	defer root.close()
	defer anon.close()
	const bucket = "changes"
	root.must(t, http.StatusOK, http.MethodPut, nodes[0].Endpoint, "/"+bucket, nil)
	root.must(t, http.StatusOK, http.MethodPut, nodes[0].Endpoint, "/"+bucket+"/k", []byte("the object"))

	// status asks every node, and fails unless all answer want (or, with
	// want 0, the same denial: 401 or 403).
	status := func(t *testing.T, what string, cl *rawS3, path string, want int) int {
		t.Helper()
		got := 0
		for i, n := range nodes {
			r, err := cl.send(t.Context(), http.MethodGet, n.Endpoint, path, nil)
			if err != nil {
				t.Fatalf("GET %s through node %d %s: %v", path, i, what, err)
			}
			switch {
			case want != 0 && r.Status != want:
				t.Errorf("GET %s through node %d %s: %v, want %d", path, i, what, r, want)
			case want == 0 && r.Status != http.StatusForbidden && r.Status != http.StatusUnauthorized:
				t.Errorf("GET %s through node %d %s: %v, want 401 or 403", path, i, what, r)
			case want == 0 && got != 0 && r.Status != got:
				t.Errorf("GET %s through node %d %s: %d, but %d through node 0", path, i, what, r.Status, got)
			}
			if got == 0 {
				got = r.Status
			}
		}
		return got
	}

	t.Run("bucket-policy", func(t *testing.T) {
		policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",
			"Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/*"}]}`, bucket)
		obj := "/" + bucket + "/k"
		denied := status(t, "before any policy", anon, obj, 0)
		// Each round makes the bucket public, then private, each time
		// another way and through another node.
		for round := range 3 {
			switch round {
			case 0:
				c.admin(t, "bucket", "policy", "set", bucket, "anonymous-read")
			default:
				root.must(t, http.StatusNoContent, http.MethodPut, nodes[round].Endpoint, "/"+bucket+"?policy", []byte(policy))
			}
			status(t, fmt.Sprintf("after the policy was set (round %d)", round), anon, obj, http.StatusOK)
			switch round {
			case 1:
				c.admin(t, "bucket", "policy", "delete", bucket)
			default:
				root.must(t, http.StatusNoContent, http.MethodDelete, nodes[(round+1)%3].Endpoint, "/"+bucket+"?policy", nil)
			}
			status(t, fmt.Sprintf("after the policy was deleted (round %d)", round), anon, obj, denied)
		}
	})

	t.Run("access-key", func(t *testing.T) {
		policyFile := filepath.Join(t.TempDir(), "read.json")
		doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/*"}]}`, bucket)
		if err := os.WriteFile(policyFile, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		id, secret := parseCredentials(t, c.admin(t, "user", "create", "reader", "--policy", policyFile))
		reader := newRawS3(id, secret)
		defer reader.close()
		obj := "/" + bucket + "/k"
		for round := range 2 {
			status(t, fmt.Sprintf("with the key enabled (round %d)", round), reader, obj, http.StatusOK)
			c.admin(t, "user", "key", "disable", id)
			status(t, fmt.Sprintf("after the key was disabled (round %d)", round), reader, obj, http.StatusForbidden)
			c.admin(t, "user", "key", "enable", id)
		}
		status(t, "with the key enabled again", reader, obj, http.StatusOK)
		// The user's policy, changed beside the nodes, narrows at once.
		other := strings.Replace(doc, bucket+"/*", bucket+"/other/*", 1)
		if err := os.WriteFile(policyFile, []byte(other), 0o600); err != nil {
			t.Fatal(err)
		}
		c.admin(t, "user", "policy", "set", "reader", policyFile)
		status(t, "after the user's policy no longer covers the key", reader, obj, http.StatusForbidden)
	})

	t.Run("cache-settings", func(t *testing.T) {
		info := "/" + bucket + "/nix-cache-info"
		prev := 40 // the default
		for _, prio := range []int{41, 17, 33} {
			for j, n := range nodes {
				r := root.must(t, http.StatusOK, http.MethodGet, n.Endpoint, info, nil)
				if !strings.Contains(string(r.Body), fmt.Sprintf("Priority: %d\n", prev)) {
					t.Errorf("nix-cache-info through node %d before priority=%d was set: %q, want Priority: %d", j, prio, r.Body, prev)
				}
			}
			c.admin(t, "bucket", "set", bucket, fmt.Sprintf("priority=%d", prio))
			for j, n := range nodes {
				r := root.must(t, http.StatusOK, http.MethodGet, n.Endpoint, info, nil)
				if !strings.Contains(string(r.Body), fmt.Sprintf("Priority: %d\n", prio)) {
					t.Errorf("nix-cache-info through node %d right after priority=%d was set: %q", j, prio, r.Body)
				}
			}
			prev = prio
		}
	})
}
