package s3store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nixbucket/nixbucket/internal/stall"
	"github.com/nixbucket/nixbucket/internal/storage"
)

// A store reached over plain http gives a blob's bytes on a TCP socket
// that the server can splice into the client's socket (splice(2)), so a
// NAR streamed through the server never crosses user space: that cut the
// server's CPU per proxied byte by more than half (bench/scale.sh). The
// SDK's HTTP client hides its sockets, so such a GET is sent here by hand:
// presigned by the SDK (the same credentials and signature), written on a
// connection of our own, its status and headers read with net/http's
// parser, and its body left on the socket for the reader.

// rawIdle bounds the idle connections kept for the next raw GET.
const rawIdle = 16

// rawTimeout bounds the wait for the store's answer and, between bytes,
// its body: a stalled store fails the read instead of holding it forever.
// A request's stall.Bound, when it carries one, replaces it (rawWait).
const rawTimeout = 2 * time.Minute

// rawWait is how long a raw GET made for ctx waits for the store's answer
// and then for each of its body's next bytes.
func rawWait(ctx context.Context) time.Duration {
	if d := stall.Bound(ctx); d > 0 {
		return d
	}
	return rawTimeout
}

// errNoRaw says a GET cannot go by hand (an https endpoint, or an answer
// the simple parser here does not take); the SDK's path is used instead.
var errNoRaw = errors.New("s3store: no raw GET for this store")

// rawConns keeps the idle connections of raw GETs.
type rawConns struct {
	mu   sync.Mutex
	idle []*net.TCPConn
}

func (p *rawConns) get() *net.TCPConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return c
	}
	return nil
}

func (p *rawConns) put(c *net.TCPConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) < rawIdle {
		p.idle = append(p.idle, c)
		return
	}
	c.Close()
}

// rawCapable reports whether GETs may go by hand: a plain http endpoint.
func (b *Backend) rawCapable() bool {
	return strings.HasPrefix(b.cfg.Endpoint, "http://")
}

// rawGet sends a GET of blob id from byte from to its end, conditional on
// etag when set, and returns its answer with the body unread on the
// socket. 404 is storage.ErrNotExist; another failure is errNoRaw wrapped
// when the SDK might do better, else the store's status.
func (b *Backend) rawGet(ctx context.Context, id string, from int64, etag string) (*rawStream, error) {
	if !b.rawCapable() {
		return nil, errNoRaw
	}
	in := &s3.GetObjectInput{Bucket: aws.String(b.cfg.Bucket), Key: aws.String(b.key(id))}
	if from > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", from))
	}
	if etag != "" {
		in.IfMatch = aws.String(etag)
	}
	req, err := s3.NewPresignClient(b.client).PresignGetObject(ctx, in, s3.WithPresignExpires(15*time.Minute))
	if err != nil {
		return nil, fmt.Errorf("read blob %s: presign: %w", id, err)
	}
	u, err := url.Parse(req.URL)
	if err != nil || u.Scheme != "http" {
		return nil, errNoRaw
	}
	var head strings.Builder
	fmt.Fprintf(&head, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: nixbucket\r\n", u.RequestURI(), u.Host)
	for k, vs := range req.SignedHeader {
		if strings.EqualFold(k, "Host") {
			continue
		}
		for _, v := range vs {
			fmt.Fprintf(&head, "%s: %s\r\n", k, v)
		}
	}
	head.WriteString("\r\n")
	wait := rawWait(ctx)
	// A pooled connection the store has since closed fails before any
	// answer; then one fresh connection is tried.
	for attempt := 0; ; attempt++ {
		conn, reused := b.raw.get(), true
		if conn == nil || attempt > 0 {
			if conn != nil {
				b.raw.put(conn)
			}
			reused = false
			conn, err = b.dial(ctx, u.Host, wait)
			if err != nil {
				return nil, fmt.Errorf("read blob %s: %w: %w", id, errNoAnswer, err)
			}
		}
		s, err := b.exchange(conn, head.String(), id, wait)
		if err != nil && !errors.Is(err, errAnswered) {
			if reused {
				continue
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				err = fmt.Errorf("%w: nothing from the store for %s: %w", stall.ErrNoProgress, wait, err)
			}
			return nil, fmt.Errorf("read blob %s: %w: %w", id, errNoAnswer, err)
		}
		return s, err
	}
}

// errAnswered marks a failure after the store answered, which a retry on
// a fresh connection would not change.
var errAnswered = errors.New("the store answered")

// errNoAnswer marks a failure to get an answer at all: the store is
// unreachable (Backend.Unreachable).
var errNoAnswer = errors.New("no answer from the store")

// errStoreFailed marks a 5xx answer: the store failed on its side.
var errStoreFailed = errors.New("the store failed")

func (b *Backend) dial(ctx context.Context, host string, wait time.Duration) (*net.TCPConn, error) {
	if !strings.Contains(host, ":") || strings.HasSuffix(host, "]") {
		host = net.JoinHostPort(strings.Trim(host, "[]"), "80")
	}
	d := net.Dialer{Timeout: min(wait, 30*time.Second), KeepAlive: 30 * time.Second}
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// exchange writes the request on conn and reads the answer's head.
func (b *Backend) exchange(conn *net.TCPConn, req, id string, wait time.Duration) (*rawStream, error) {
	conn.SetDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(conn, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		conn.Close()
		return nil, fmt.Errorf("read blob %s: %w: %w", id, storage.ErrNotExist, errAnswered)
	case resp.StatusCode >= http.StatusInternalServerError:
		conn.Close()
		return nil, fmt.Errorf("read blob %s: the store answered %s: %w: %w", id, resp.Status, errStoreFailed, errAnswered)
	case resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent:
		conn.Close()
		return nil, fmt.Errorf("read blob %s: the store answered %s: %w", id, resp.Status, errAnswered)
	case resp.ContentLength < 0 || len(resp.TransferEncoding) > 0:
		// Not the plain answer with a length this parser relies on.
		conn.Close()
		return nil, fmt.Errorf("read blob %s: %w: %w", id, errNoRaw, errAnswered)
	}
	return &rawStream{b: b, conn: conn, br: br, wait: wait, left: resp.ContentLength, etag: resp.Header.Get("Etag"), total: total(resp), last: resp.Close}, nil
}

// total is the blob's whole size from a 206's Content-Range, else the
// body's length.
func total(resp *http.Response) int64 {
	if cr := resp.Header.Get("Content-Range"); cr != "" {
		var from, to, size int64
		if _, err := fmt.Sscanf(cr, "bytes %d-%d/%d", &from, &to, &size); err == nil {
			return size
		}
	}
	return resp.ContentLength
}

// rawStream is the body of a raw GET: what the header parser read ahead,
// then the socket. Once the body is read to its end the connection goes
// back to the pool.
type rawStream struct {
	b     *Backend
	conn  *net.TCPConn // nil once released or closed
	br    *bufio.Reader
	wait  time.Duration // rawWait
	left  int64         // body bytes not yet read
	etag  string
	total int64
	last  bool // the store closes the connection after this answer
}

func (s *rawStream) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, io.EOF
	}
	if s.conn == nil {
		return 0, net.ErrClosed
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	s.conn.SetReadDeadline(time.Now().Add(s.wait))
	n, err := s.br.Read(p)
	s.left -= int64(n)
	if s.left == 0 {
		s.release()
		return n, nil
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// take hands the caller the rest of the body as the bytes already read
// ahead and the socket, for splicing; taken reports how many bytes the
// caller then moved from the socket and why it stopped.
func (s *rawStream) take() (head []byte, conn *net.TCPConn, taken func(n int64, err error)) {
	head, _ = s.br.Peek(min(s.br.Buffered(), int(min(s.left, 1<<30))))
	s.left -= int64(len(head))
	s.br.Discard(len(head))
	conn = s.conn
	conn.SetReadDeadline(time.Time{})
	return head, conn, func(n int64, err error) {
		s.left -= n
		if err != nil || s.left < 0 {
			s.Close()
		} else if s.left == 0 {
			s.release()
		}
	}
}

// release returns the connection, its body read to the end, to the pool.
func (s *rawStream) release() {
	if s.conn == nil {
		return
	}
	if s.last {
		s.conn.Close()
	} else {
		s.conn.SetDeadline(time.Time{})
		s.b.raw.put(s.conn)
	}
	s.conn = nil
}

// Close closes the connection unless its body was read to the end.
func (s *rawStream) Close() error {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	return nil
}
