package e2e

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestClusterKill kills one node of three with SIGKILL in the middle of
// pushes spread across all of them: Nix 2.8 pushing a closure to each
// node, and S3 clients putting objects to each node in turn. Everything
// sent to the doomed node C passes a throttle, so the kill comes while
// both a Nix push and S3 puts are streaming into it. A client whose
// request fails tries the next node, and must succeed there; the Nix push
// cut by the kill is run again against A. Then every put any node
// acknowledged, C's before its death included, must read back from A and
// B, and from C once it is restarted; and all three closures must
// substitute from A and from B with signatures required.
func TestClusterKill(t *testing.T) {
	nixNeed(t)
	c := startCluster(t, 3)
	a, b, cn := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	netrc := nixNetrc(a)
	key := c.publicKey(t, nixCacheBucket)
	root := newRawS3(a.AccessKey, a.SecretKey)
	defer root.close()
	const bucket = "kill"
	root.must(t, http.StatusOK, http.MethodPut, a.Endpoint, "/"+bucket, nil)

	// Each path holds a copy of perl (3.8 MB): Nix's push to C takes
	// about two seconds through its throttle, and C dies after 1.5 MB of
	// it. The S3 clients reach C through a throttle of their own, so their
	// puts to C are streaming too.
	const rate, killAfter = 4 << 20, 3 << 19
	nixToC := newSlowProxy(t, cn.Addr, rate)
	s3ToC := newSlowProxy(t, cn.Addr, rate)
	closures := []*nixClosure{nixBuildClosure(t, 2, 64, "kill-a"), nixBuildClosure(t, 2, 64, "kill-b"), nixBuildClosure(t, 2, 64, "kill-c")}
	targets := []string{a.Endpoint, b.Endpoint, "http://" + nixToC.addr}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	stopPuts := make(chan struct{})
	pushers := &killPushers{root: root, bucket: bucket, nodes: []string{a.Endpoint, b.Endpoint, "http://" + s3ToC.addr}, c: 2}
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Go(func() { pushers.run(ctx, g, stopPuts) })
	}
	copies := make([]cmdResult, len(closures))
	var copyWG sync.WaitGroup
	for i, cl := range closures {
		env := nixEnv(t)
		copyWG.Go(func() {
			// Two attempts per request, not Nix's five with back-off: the
			// push to the dead node fails sooner.
			copies[i] = runCmd(t, env, "", "nix", "--extra-experimental-features", "nix-command", "copy",
				"--option", "substituters", "", "--option", "netrc-file", netrc, "--option", "download-attempts", "2",
				"--to", targets[i]+"/"+nixCacheBucket+"?compression=none", cl.Top)
		})
	}
	select {
	case <-nixToC.passed(killAfter):
	case <-time.After(time.Minute):
		t.Fatal("1.5 MB of Nix's push never went through to C")
	}
	cn.Kill()
	pushers.killed.Store(true)
	atKill := pushers.byNode[2].Load()
	copyWG.Wait()
	// The S3 clients go on until they have met the dead node a few times.
	for pushers.afterKill.Load() < 6 && ctx.Err() == nil && pushers.err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	close(stopPuts)
	wg.Wait()
	if err := pushers.err(); err != nil {
		t.Fatal(err)
	}

	for i, r := range copies[:2] {
		if r.Err != nil {
			t.Fatalf("nix copy to node %d while C was killed: %v\n%s", i, r.Err, tail(r.Stderr, 4000))
		}
	}
	if copies[2].Err == nil {
		t.Fatalf("nix copy to C succeeded although C was killed during it: the kill came too late to test anything")
	}
	t.Logf("nix copy to C, cut by the kill: %v\n%s", copies[2].Err, tail(copies[2].Stderr, 1000))
	// Its user runs it again, against another node.
	nixMust(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", netrc,
		"--to", nixCacheURL(a, nixCacheBucket)+"?compression=none", closures[2].Top)

	acks := pushers.acks()
	t.Logf("%d puts acknowledged (%d through C before it died); %d failed at C and went to another node",
		len(acks), atKill, pushers.failedAt[2].Load())
	if atKill == 0 || pushers.failedAt[2].Load() == 0 {
		t.Errorf("C acknowledged %d puts before it died and %d failed there: want some of each", atKill, pushers.failedAt[2].Load())
	}
	if fa, fb := pushers.failedAt[0].Load(), pushers.failedAt[1].Load(); fa+fb > 0 {
		t.Errorf("%d puts failed at A and %d at B, which stayed up: want none", fa, fb)
	}
	// C comes back on its data directory, and serves what the others
	// acknowledged meanwhile as they do.
	cn.Restart()
	for k, etag := range acks {
		for _, s := range []*Server{a, b, cn} {
			r, err := root.send(t.Context(), http.MethodGet, s.Endpoint, "/"+bucket+"/"+k, nil)
			if err != nil {
				t.Fatalf("GET %s through %s: %v", k, s.Endpoint, err)
			}
			sum := md5.Sum(r.Body)
			if r.Status != http.StatusOK || r.etag() != etag || hex.EncodeToString(sum[:]) != etag {
				t.Errorf("GET %s through %s after the kill: %v, want 200 with the acknowledged ETag %s", k, s.Endpoint, r, etag)
			}
		}
	}

	var tops []string
	for _, cl := range closures {
		tops = append(tops, cl.Top)
	}
	for _, s := range []*Server{a, b} {
		for _, cl := range closures {
			cl.delete(t)
		}
		nixMustSubstitute(t, nixCacheURL(s, nixCacheBucket), key, netrc, tops...)
		for _, cl := range closures {
			cl.checkDumps(t)
		}
	}
}

// killPushers are S3 clients that put objects to each node in turn; a put
// that fails goes to the next node, until one acknowledges it.
type killPushers struct {
	root   *rawS3
	bucket string
	nodes  []string
	c      int         // the index of the node that is killed
	killed atomic.Bool // set once it is

	byNode    [3]atomic.Int64 // acknowledged puts
	failedAt  [3]atomic.Int64
	afterKill atomic.Int64 // failures at the killed node once it is dead

	mu      sync.Mutex
	etags   map[string]string // key → the acknowledged ETag
	failure error
}

// run is one client, until stop is closed.
func (p *killPushers) run(ctx context.Context, g int, stop <-chan struct{}) {
	body := make([]byte, 256<<10)
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		key := fmt.Sprintf("obj/g%d/%d", g, i)
		io.ReadFull(randReader(uint64(g*1_000_000+i)), body)
		sum := md5.Sum(body)
		want := hex.EncodeToString(sum[:])
		var lastErr error
		done := false
		for try := range len(p.nodes) {
			n := (g + i + try) % len(p.nodes)
			r, err := p.root.send(ctx, http.MethodPut, p.nodes[n], "/"+p.bucket+"/"+key, body)
			if err == nil && r.Status == http.StatusOK && r.etag() == want {
				p.byNode[n].Add(1)
				p.mu.Lock()
				if p.etags == nil {
					p.etags = map[string]string{}
				}
				p.etags[key] = want
				p.mu.Unlock()
				done = true
				break
			}
			if err == nil {
				err = errors.New(r.String())
			}
			lastErr = fmt.Errorf("PUT %s through %s: %w", key, p.nodes[n], err)
			p.failedAt[n].Add(1)
			if n == p.c && p.killed.Load() {
				p.afterKill.Add(1)
			}
		}
		if !done {
			p.mu.Lock()
			if p.failure == nil {
				p.failure = fmt.Errorf("no node acknowledged a put; the last try: %w", lastErr)
			}
			p.mu.Unlock()
			return
		}
	}
}

func (p *killPushers) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failure
}

func (p *killPushers) acks() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.etags
}

// slowProxy forwards TCP connections to a node, letting at most rate
// bytes a second through from the clients, so that an upload through it
// is still streaming when the test kills the node.
type slowProxy struct {
	addr   string
	target string
	rate   int
	sent   atomic.Int64
	mu     sync.Mutex
	waits  []proxyWait
	ln     net.Listener
	conns  sync.WaitGroup
}

type proxyWait struct {
	n  int64
	ch chan struct{}
}

func newSlowProxy(t testing.TB, target string, rate int) *slowProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &slowProxy{addr: ln.Addr().String(), target: target, rate: rate, ln: ln}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.conns.Wait()
	})
	return p
}

// passed returns a channel closed once n bytes from clients went through.
func (p *slowProxy) passed(n int64) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := make(chan struct{})
	if p.sent.Load() >= n {
		close(ch)
	} else {
		p.waits = append(p.waits, proxyWait{n, ch})
	}
	return ch
}

func (p *slowProxy) count(n int) {
	total := p.sent.Add(int64(n))
	p.mu.Lock()
	defer p.mu.Unlock()
	kept := p.waits[:0]
	for _, w := range p.waits {
		if total >= w.n {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	p.waits = kept
}

func (p *slowProxy) serve() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.conns.Add(1)
		go func() {
			defer p.conns.Done()
			defer client.Close()
			server, err := net.Dial("tcp", p.target)
			if err != nil {
				return
			}
			defer server.Close()
			done := make(chan struct{})
			go func() {
				io.Copy(client, server)
				client.Close()
				close(done)
			}()
			buf := make([]byte, 16<<10)
			for {
				n, err := client.Read(buf)
				if n > 0 {
					if _, werr := server.Write(buf[:n]); werr != nil {
						break
					}
					p.count(n)
					time.Sleep(time.Duration(n) * time.Second / time.Duration(p.rate))
				}
				if err != nil {
					break
				}
			}
			server.Close()
			<-done
		}()
	}
}
