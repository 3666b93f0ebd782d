package e2e

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nixbucket/nixbucket/internal/nix/nar"
	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixbase32"
)

// TestClusterSettings: every mutable setting a node may answer from
// memory reaches every node by its next request, whichever node (or the
// admin CLI beside them) changed it. Each row names what one request shows
// of a setting (probe), asks every node before the change, so that each
// holds the old state in whatever it keeps in memory, changes the setting
// once, and asks every node again right after the change returned.
// (TestClusterChanges covers bucket policies, access keys, user policies
// and priority the same way.)
func TestClusterSettings(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	nodes := c.Nodes
	root := newRawS3(nodes[0].AccessKey, nodes[0].SecretKey)
	anon := newRawS3("", "")
	defer root.close()
	defer anon.close()
	const bucket = "settings"
	obj := "/" + bucket + "/k"
	root.must(t, http.StatusOK, http.MethodPut, nodes[0].Endpoint, "/"+bucket, nil)
	root.must(t, http.StatusOK, http.MethodPut, nodes[0].Endpoint, obj, []byte("the object"))
	// A bucket to delete and make again, with an object and CORS.
	const again = "again"
	corsXML := `<CORSConfiguration><CORSRule><AllowedOrigin>https://page.example</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>`
	root.must(t, http.StatusOK, http.MethodPut, nodes[0].Endpoint, "/"+again, nil)
	root.must(t, http.StatusOK, http.MethodPut, nodes[0].Endpoint, "/"+again+"/k", []byte("the object"))
	root.must(t, http.StatusOK, http.MethodPut, nodes[0].Endpoint, "/"+again+"?cors", []byte(corsXML), "Content-MD5", md5Of(corsXML))
	c.admin(t, "bucket", "policy", "set", again, "anonymous-read")

	// A reader (object reads and listing) with an access key and a token; a
	// second user, to be deleted.
	policyFile := filepath.Join(t.TempDir(), "read.json")
	doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::%[1]s","arn:aws:s3:::%[1]s/*"]}]}`, bucket)
	if err := os.WriteFile(policyFile, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	reader := newRawS3(parseCredentials(t, c.admin(t, "user", "create", "reader", "--policy", policyFile)))
	doomed := newRawS3(parseCredentials(t, c.admin(t, "user", "create", "doomed", "--policy", policyFile)))
	defer reader.close()
	defer doomed.close()
	token := strings.TrimSpace(c.admin(t, "token", "create", "--user", "reader"))
	tokenID, ok := tokenID(token)
	if !ok {
		t.Fatalf("token create printed %q, not a token", token)
	}

	// A store path for the CLI to delete.
	doomedPath := pushPath(t, root, nodes[0], bucket)
	doomedInfo := "/" + bucket + "/" + nixHashPart(doomedPath) + ".narinfo"

	// Two upstreams that know no path, each counting the narinfos asked.
	up1, up2 := newCountingUpstream(t), newCountingUpstream(t)

	status := func(cl *rawS3, n *Server, method, path string, hdr ...string) string {
		r, err := cl.send(t.Context(), method, n.Endpoint, path, nil, hdr...)
		if err != nil {
			t.Fatalf("%s %s through %s: %v", method, path, n.Endpoint, err)
		}
		return fmt.Sprint(r.Status)
	}
	cacheInfo := func(field string) func(n *Server) string {
		return func(n *Server) string {
			r := root.must(t, http.StatusOK, http.MethodGet, n.Endpoint, "/"+bucket+"/nix-cache-info", nil)
			for l := range strings.Lines(string(r.Body)) {
				if strings.HasPrefix(l, field+":") {
					return strings.TrimSpace(l)
				}
			}
			return "no " + field
		}
	}
	lifecycleXML := `<LifecycleConfiguration><Rule><ID>tmp</ID><Filter><Prefix>tmp/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>3</Days></Expiration></Rule></LifecycleConfiguration>`
	lifecycle := func(n *Server) string {
		r, err := root.send(t.Context(), http.MethodGet, n.Endpoint, "/"+bucket+"?lifecycle", nil)
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, tag := range []string{"<ID>tmp</ID>", "<DaysAfterInitiation>3</DaysAfterInitiation>"} {
			if bytes.Contains(r.Body, []byte(tag)) {
				parts = append(parts, tag)
			}
		}
		return fmt.Sprint(r.Status, parts)
	}

	rows := []struct {
		name   string
		probe  func(n *Server) string
		change func(t *testing.T)
		before string
		after  string
	}{{
		name:   "token revoked by the CLI",
		probe:  func(n *Server) string { return status(anon, n, http.MethodGet, obj, "Authorization", "Bearer "+token) },
		change: func(t *testing.T) { c.admin(t, "token", "revoke", tokenID) },
		before: "200", after: "403",
	}, {
		name:   "user deleted by the CLI",
		probe:  func(n *Server) string { return status(doomed, n, http.MethodGet, obj) },
		change: func(t *testing.T) { c.admin(t, "user", "delete", "doomed") },
		before: "200", after: "403",
	}, {
		name:   "want-mass-query set by the CLI",
		probe:  cacheInfo("WantMassQuery"),
		change: func(t *testing.T) { c.admin(t, "bucket", "set", bucket, "want-mass-query=0") },
		before: "WantMassQuery: 1", after: "WantMassQuery: 0",
	}, {
		name:   "store path deleted by the CLI",
		probe:  func(n *Server) string { return status(root, n, http.MethodGet, doomedInfo) },
		change: func(t *testing.T) { c.admin(t, "path", "delete", bucket, doomedPath, "--grace", "0s") },
		before: "200", after: "404",
	}, {
		name: "CORS set through node 1",
		probe: func(n *Server) string {
			r, err := anon.send(t.Context(), http.MethodOptions, n.Endpoint, obj, nil,
				"Origin", "https://page.example", "Access-Control-Request-Method", "GET")
			if err != nil {
				t.Fatal(err)
			}
			return fmt.Sprint(r.Status, " ", r.Header.Get("Access-Control-Allow-Origin"))
		},
		change: func(t *testing.T) {
			root.must(t, http.StatusOK, http.MethodPut, nodes[1].Endpoint, "/"+bucket+"?cors", []byte(corsXML), "Content-MD5", md5Of(corsXML))
		},
		before: "403 ", after: "200 https://page.example",
	}, {
		name:  "lifecycle set through node 2",
		probe: lifecycle,
		change: func(t *testing.T) {
			root.must(t, http.StatusOK, http.MethodPut, nodes[2].Endpoint, "/"+bucket+"?lifecycle", []byte(lifecycleXML), "Content-MD5", md5Of(lifecycleXML))
		},
		before: "404 []", after: "200 [<ID>tmp</ID>]",
	}, {
		name:   "abort-uploads-days set by the CLI",
		probe:  lifecycle,
		change: func(t *testing.T) { c.admin(t, "bucket", "set", bucket, "abort-uploads-days=3") },
		before: "200 [<ID>tmp</ID>]", after: "200 [<ID>tmp</ID> <DaysAfterInitiation>3</DaysAfterInitiation>]",
	}, {
		name:   "signing key generated by the CLI",
		probe:  func(n *Server) string { return pushSigners(t, root, n, bucket) },
		change: func(t *testing.T) { c.admin(t, "bucket", "key", "generate", bucket, "extra") },
		before: bucket + "-1", after: "extra " + bucket + "-1",
	}, {
		name:   "signing key removed by the CLI",
		probe:  func(n *Server) string { return pushSigners(t, root, n, bucket) },
		change: func(t *testing.T) { c.admin(t, "bucket", "key", "remove", bucket, bucket+"-1") },
		before: "extra " + bucket + "-1", after: "extra",
	}, {
		name:   "upstreams set by the CLI",
		probe:  func(n *Server) string { return pullThroughAsks(t, reader, n, bucket, up1, up2) },
		change: func(t *testing.T) { c.admin(t, "bucket", "set", bucket, "upstreams="+up1.URL, "upstream-trust=any") },
		before: "404 none", after: "404 up1",
	}, {
		name:   "upstreams changed by the CLI",
		probe:  func(n *Server) string { return pullThroughAsks(t, reader, n, bucket, up1, up2) },
		change: func(t *testing.T) { c.admin(t, "bucket", "set", bucket, "upstreams="+up2.URL) },
		before: "404 up1", after: "404 up2",
	}, {
		name: "bucket deleted and made again through node 1",
		probe: func(n *Server) string {
			// The object, the new one, the new one to anyone (the
			// policy), and CORS.
			return status(root, n, http.MethodGet, "/"+again+"/k") + " " + status(root, n, http.MethodGet, "/"+again+"/new") + " " +
				status(anon, n, http.MethodGet, "/"+again+"/new") + " " +
				status(anon, n, http.MethodOptions, "/"+again+"/k", "Origin", "https://page.example", "Access-Control-Request-Method", "GET")
		},
		change: func(t *testing.T) {
			root.must(t, http.StatusNoContent, http.MethodDelete, nodes[1].Endpoint, "/"+again+"/k", nil)
			root.must(t, http.StatusNoContent, http.MethodDelete, nodes[1].Endpoint, "/"+again, nil)
			root.must(t, http.StatusOK, http.MethodPut, nodes[1].Endpoint, "/"+again, nil)
			root.must(t, http.StatusOK, http.MethodPut, nodes[1].Endpoint, "/"+again+"/new", []byte("new"))
		},
		before: "200 404 403 200", after: "404 200 401 403",
	}}
	for _, row := range rows {
		t.Run(strings.ReplaceAll(row.name, " ", "-"), func(t *testing.T) {
			for i, n := range nodes {
				if got := row.probe(n); got != row.before {
					t.Fatalf("node %d before the change: %q, want %q", i, got, row.before)
				}
			}
			row.change(t)
			for i, n := range nodes {
				if got := row.probe(n); got != row.after {
					t.Errorf("node %d right after the change: %q, want %q", i, got, row.after)
				}
			}
		})
	}

	// A path pulled through a node before its upstream was replaced: the
	// node fetches the NAR from the upstream the bucket names now, not
	// from the one it pulled the narinfo from.
	t.Run("pulled-NAR-after-upstreams-changed", func(t *testing.T) {
		hashes := make([]string, len(nodes))
		for i := range nodes {
			storeHash, narBytes, ni := syntheticPath(t)
			up1.serve(storeHash, narBytes, ni)
			up2.serve(storeHash, narBytes, ni)
			hashes[i] = storeHash
		}
		c.admin(t, "bucket", "set", bucket, "upstreams="+up1.URL)
		urls := make([]string, len(nodes))
		for i, n := range nodes {
			r := reader.must(t, http.StatusOK, http.MethodGet, n.Endpoint, "/"+bucket+"/"+hashes[i]+".narinfo", nil)
			ni, err := narinfo.Parse(r.Body)
			if err != nil {
				t.Fatalf("pulled narinfo: %v\n%s", err, r.Body)
			}
			urls[i] = ni.URL
		}
		c.admin(t, "bucket", "set", bucket, "upstreams="+up2.URL)
		n1, n2 := up1.narCount(), up2.narCount()
		for i, n := range nodes {
			reader.must(t, http.StatusOK, http.MethodGet, n.Endpoint, "/"+bucket+"/"+urls[i], nil)
		}
		if d1, d2 := up1.narCount()-n1, up2.narCount()-n2; d1 != 0 || d2 != len(nodes) {
			t.Errorf("after the upstreams changed, the removed upstream served %d NARs and the new one %d, want 0 and %d", d1, d2, len(nodes))
		}
	})
}

func md5Of(s string) string {
	sum := md5.Sum([]byte(s))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// syntheticPath makes a store path of one small file: its hash part, its
// uncompressed NAR and an unsigned narinfo pointing at nar/FILEHASH.nar.
func syntheticPath(t *testing.T) (storeHash string, narBytes []byte, ni narinfo.NarInfo) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, []byte(rand.Text()), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := nar.DumpPath(&buf, file); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	hash := "sha256:" + nixbase32.EncodeToString(sum[:])
	storeHash = nixbase32.EncodeToString([]byte(rand.Text())[:20])
	ni = narinfo.NarInfo{StorePath: "/nix/store/" + storeHash + "-settings", URL: "nar/" + nixbase32.EncodeToString(sum[:]) + ".nar",
		Compression: "none", FileHash: hash, FileSize: uint64(buf.Len()), NarHash: hash, NarSize: uint64(buf.Len())}
	return storeHash, buf.Bytes(), ni
}

// pushPath uploads a fresh store path (an uncompressed NAR and its
// unsigned narinfo) through node n, and returns its store path.
func pushPath(t *testing.T, root *rawS3, n *Server, bucket string) string {
	t.Helper()
	storeHash, narBytes, ni := syntheticPath(t)
	root.must(t, http.StatusOK, http.MethodPut, n.Endpoint, "/"+bucket+"/"+ni.URL, narBytes)
	root.must(t, http.StatusOK, http.MethodPut, n.Endpoint, "/"+bucket+"/"+storeHash+".narinfo", []byte(ni.String()))
	return ni.StorePath
}

// pushSigners pushes a fresh store path through node n and returns the
// names of the keys the node signed its narinfo with, sorted.
func pushSigners(t *testing.T, root *rawS3, n *Server, bucket string) string {
	t.Helper()
	storeHash := nixHashPart(pushPath(t, root, n, bucket))
	r := root.must(t, http.StatusOK, http.MethodGet, n.Endpoint, "/"+bucket+"/"+storeHash+".narinfo", nil)
	got, err := narinfo.Parse(r.Body)
	if err != nil {
		t.Fatalf("narinfo served by %s: %v\n%s", n.Endpoint, err, r.Body)
	}
	var names []string
	for _, s := range got.Sigs {
		name, _, _ := strings.Cut(s, ":")
		names = append(names, name)
	}
	slices.Sort(names)
	return strings.Join(names, " ")
}

// countingUpstream is an upstream binary cache that serves the files it
// is given (set before its first request) and counts the narinfos and
// NARs asked of it.
type countingUpstream struct {
	URL   string
	files map[string][]byte // by path: "/HASH.narinfo", "/nar/…"

	mu             sync.Mutex
	narinfos, nars int
}

func newCountingUpstream(t *testing.T) *countingUpstream {
	u := &countingUpstream{files: map[string][]byte{"/nix-cache-info": []byte("StoreDir: /nix/store\n")}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		switch {
		case strings.HasSuffix(r.URL.Path, ".narinfo"):
			u.narinfos++
		case strings.HasPrefix(r.URL.Path, "/nar/"):
			u.nars++
		}
		u.mu.Unlock()
		if b, ok := u.files[r.URL.Path]; ok {
			w.Write(b)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	u.URL = srv.URL
	return u
}

// serve adds a store path to what the upstream serves.
func (u *countingUpstream) serve(storeHash string, narBytes []byte, ni narinfo.NarInfo) {
	u.files["/"+storeHash+".narinfo"] = []byte(ni.String())
	u.files["/"+ni.URL] = narBytes
}

func (u *countingUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.narinfos
}

func (u *countingUpstream) narCount() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.nars
}

// pullThroughAsks GETs the narinfo of a path nobody has through node n,
// as a reader (writers do not pull through), and says which upstreams
// were asked for it.
func pullThroughAsks(t *testing.T, reader *rawS3, n *Server, bucket string, up1, up2 *countingUpstream) string {
	t.Helper()
	c1, c2 := up1.count(), up2.count()
	hash := nixbase32.EncodeToString([]byte(rand.Text())[:20])
	r, err := reader.send(t.Context(), http.MethodGet, n.Endpoint, "/"+bucket+"/"+hash+".narinfo", nil)
	if err != nil {
		t.Fatal(err)
	}
	var asked []string
	if up1.count() > c1 {
		asked = append(asked, "up1")
	}
	if up2.count() > c2 {
		asked = append(asked, "up2")
	}
	if asked == nil {
		asked = []string{"none"}
	}
	return fmt.Sprint(r.Status, " ", strings.Join(asked, "+"))
}
