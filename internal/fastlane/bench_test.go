package fastlane

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// BenchmarkTransport serves a narinfo-sized answer through fastlane and
// through net/http alone, over loopback with 8 kept-alive connections, and
// reports requests per second for each: compare the two lines. cpu-ns/op
// is the CPU the process (server and client) spent per request, which
// stays meaningful when other work shares the machine and ns/op does not.
func BenchmarkTransport(b *testing.B) {
	body := strings.Repeat("n", 600)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr["Content-Type"] = []string{"text/x-nix-narinfo"}
		hdr["Content-Length"] = []string{"600"}
		io.WriteString(w, body)
	})
	for _, name := range []string{"fastlane", "net-http"} {
		b.Run(name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			var serve net.Listener = ln
			if name == "fastlane" {
				serve = NewListener(ln, h, Options{})
			}
			hs := &http.Server{Handler: h}
			go hs.Serve(serve)
			defer hs.Close()
			const conns = 8
			req := []byte("GET /nix-cache/0123456789abcdfghijklmnpqrsvwxyz0.narinfo HTTP/1.1\r\nHost: bench\r\nUser-Agent: curl/8 Nix/2.8\r\n\r\n")
			var wg sync.WaitGroup
			work := make(chan struct{}, 1024)
			b.ResetTimer()
			cpu := cpuTime()
			for range conns {
				wg.Go(func() {
					c, err := net.Dial("tcp", ln.Addr().String())
					if err != nil {
						b.Error(err)
						return
					}
					defer c.Close()
					br := bufio.NewReader(c)
					for range work {
						if _, err := c.Write(req); err != nil {
							b.Error(err)
							return
						}
						resp, err := http.ReadResponse(br, nil)
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
					}
				})
			}
			for range b.N {
				work <- struct{}{}
			}
			close(work)
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
