package s3store

import (
	"bufio"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/nixbucket/nixbucket/internal/stall"
)

// A PutObject to a store reached over plain http is sent by hand too, as
// raw.go sends GETs: signed with the SDK's SigV4 signer and the SDK's
// credentials, written on a connection of our own, and each Write of the
// blob written straight to its socket. Through the SDK, a body streamed
// from the client crossed an io.Pipe into the transport's goroutines,
// 32 KiB at a time, and every PutObject ran the SDK's whole middleware
// stack: a third of the node's CPU per 1 MiB PUT (bench/scale.sh), which
// was a single PUT's extra latency too. The answer is read with
// net/http's parser; a refusal becomes the error the SDK would have
// given (its status, code and message), so Unreachable, status and
// isDigestRefusal read both alike. Stores over https, and multipart
// parts, go through the SDK.

// rawPutter is what a raw PUT needs of the Backend, found once.
type rawPutter struct {
	once   sync.Once
	ok     bool   // false: every PUT goes through the SDK
	prefix string // the URL of a blob but for its ID
	host   string
	creds  aws.CredentialsProvider
	region string
	signer *v4.Signer
}

// putter returns the rawPutter, or nil when PUTs cannot go by hand. The
// URL of a blob is the SDK's own (its endpoint resolution: path or
// virtual-host style, the prefix's escaping), read from a presigned PUT
// of a blob ID no blob has, whose ID then marks where each blob's goes.
func (b *Backend) putter(ctx context.Context) *rawPutter {
	p := &b.rawPut
	p.once.Do(func() {
		if !b.rawCapable() {
			return
		}
		// Found once for the Backend's life: not cut short by the first
		// caller's cancellation.
		req, err := s3.NewPresignClient(b.client).PresignPutObject(context.WithoutCancel(ctx), &s3.PutObjectInput{
			Bucket: aws.String(b.cfg.Bucket), Key: aws.String(b.key(pingID)),
		})
		if err != nil {
			return
		}
		u, err := url.Parse(req.URL)
		if err != nil || u.Scheme != "http" || u.Host == "" || !strings.HasSuffix(u.EscapedPath(), "/"+pingID) {
			return
		}
		o := b.client.Options()
		p.prefix = "http://" + u.Host + strings.TrimSuffix(u.EscapedPath(), pingID)
		p.host, p.creds, p.region = u.Host, o.Credentials, o.Region
		p.signer = v4.NewSigner(func(so *v4.SignerOptions) { so.DisableURIPathEscaping = true })
		p.ok = p.creds != nil
	})
	if !p.ok {
		return nil
	}
	return p
}

// rawPut is one PutObject sent by hand: its head went out with the first
// bytes of the body; the rest go out as they are written.
type rawPut struct {
	b    *Backend
	id   string
	conn *net.TCPConn
	wait time.Duration // rawWait: the bound on each write and on the answer
	stop func() bool   // stops the interruption at the request's cancellation
	ctx  context.Context
	head []byte // sent with the first write
}

// startRawPut signs a PutObject of size bytes of blob id, whose payload
// hash is hash (hex SHA-256, or UNSIGNED-PAYLOAD), and connects; the head
// goes out with the first write. errNoRaw: send it through the SDK.
func (b *Backend) startRawPut(ctx context.Context, id string, size int64, hash string) (*rawPut, error) {
	p := b.putter(ctx)
	if p == nil {
		return nil, errNoRaw
	}
	creds, err := p.creds.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("write blob %s: credentials: %w", id, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, p.prefix+id, nil)
	if err != nil {
		return nil, errNoRaw
	}
	req.ContentLength = size
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if err := p.signer.SignHTTP(ctx, creds, req, hash, "s3", p.region, time.Now().UTC()); err != nil {
		return nil, fmt.Errorf("write blob %s: sign: %w", id, err)
	}
	head := make([]byte, 0, 512)
	head = fmt.Appendf(head, "PUT %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: nixbucket\r\nContent-Length: %d\r\n", req.URL.RequestURI(), p.host, size)
	for k, vs := range req.Header {
		for _, v := range vs {
			head = fmt.Appendf(head, "%s: %s\r\n", k, v)
		}
	}
	head = append(head, "\r\n"...)
	wait := rawWait(ctx)
	conn := b.raw.getAlive()
	if conn == nil {
		if conn, err = b.dial(ctx, p.host, wait); err != nil {
			return nil, fmt.Errorf("write blob %s: %w: %w", id, errNoAnswer, err)
		}
	}
	r := &rawPut{b: b, id: id, conn: conn, wait: wait, ctx: ctx, head: head}
	// The request's cancellation (the client went away) ends a write or a
	// wait for the answer at once, as the SDK's transport would.
	r.stop = context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	return r, nil
}

// write sends p (after the head, the first time).
func (r *rawPut) write(p []byte) (int, error) {
	if r.conn == nil {
		return 0, fmt.Errorf("write blob %s: %w: the connection is closed", r.id, errNoAnswer)
	}
	r.conn.SetWriteDeadline(time.Now().Add(r.wait))
	if r.head != nil {
		bufs := net.Buffers{r.head, p}
		n, err := bufs.WriteTo(r.conn)
		sent := max(int(n)-len(r.head), 0)
		r.head = nil
		if err != nil {
			return sent, r.failed(err)
		}
		return sent, nil
	}
	n, err := r.conn.Write(p)
	if err != nil {
		return n, r.failed(err)
	}
	return n, nil
}

// failed is the error of a write that failed: the store's answer if it
// sent one before it stopped reading (a refusal of the request), else the
// store is unreachable. The connection is closed either way.
func (r *rawPut) failed(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) && r.ctx.Err() == nil {
		r.close()
		return fmt.Errorf("write blob %s: %w: %w: nothing taken by the store for %s: %w", r.id, errNoAnswer, stall.ErrNoProgress, r.wait, err)
	}
	if r.ctx.Err() != nil {
		r.close()
		return fmt.Errorf("write blob %s: %w", r.id, r.ctx.Err())
	}
	r.conn.SetReadDeadline(time.Now().Add(min(r.wait, time.Second)))
	if _, aerr := r.answer(); aerr != nil && !errors.Is(aerr, errNoAnswer) {
		return aerr
	}
	r.close()
	return fmt.Errorf("write blob %s: %w: %w", r.id, errNoAnswer, err)
}

// finish reads the store's answer to the whole body.
func (r *rawPut) finish() (sent, error) {
	if r.conn == nil {
		return sent{}, fmt.Errorf("write blob %s: %w: the connection is closed", r.id, errNoAnswer)
	}
	if r.head != nil { // nothing written: only the head goes
		if _, err := r.conn.Write(r.head); err != nil {
			return sent{}, r.failed(err)
		}
		r.head = nil
	}
	r.conn.SetReadDeadline(time.Now().Add(r.wait))
	return r.answer()
}

// answer reads and interprets the store's answer, and releases the
// connection: to the pool after a 2xx whose body was read, else closed.
func (r *rawPut) answer() (sent, error) {
	if r.conn == nil {
		return sent{}, fmt.Errorf("write blob %s: %w: the connection is closed", r.id, errNoAnswer)
	}
	br := bufio.NewReaderSize(r.conn, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		r.close()
		switch {
		case r.ctx.Err() != nil:
			return sent{}, fmt.Errorf("write blob %s: %w", r.id, r.ctx.Err())
		case errors.Is(err, os.ErrDeadlineExceeded):
			return sent{}, fmt.Errorf("write blob %s: %w: %w: nothing from the store for %s: %w", r.id, errNoAnswer, stall.ErrNoProgress, r.wait, err)
		}
		return sent{}, fmt.Errorf("write blob %s: %w: %w", r.id, errNoAnswer, err)
	}
	if resp.StatusCode/100 != 2 {
		defer r.close()
		return sent{}, fmt.Errorf("write blob %s: %w", r.id, refusal(resp))
	}
	// The body of a PutObject's 200 is empty; read whatever there is.
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)); err != nil || resp.Close || br.Buffered() > 0 {
		r.close()
	} else {
		r.release()
	}
	s := sent{etag: aws.String(resp.Header.Get("ETag")), sse: types.ServerSideEncryption(resp.Header.Get("X-Amz-Server-Side-Encryption"))}
	if a := resp.Header.Get("X-Amz-Server-Side-Encryption-Customer-Algorithm"); a != "" {
		s.ssec = aws.String(a)
	}
	return s, nil
}

// refusal is the error of a non-2xx answer, as the SDK gives it: a
// ResponseError with the status, wrapping an APIError with the store's
// code and message.
func refusal(resp *http.Response) error {
	var body struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	xml.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body)
	if body.Code == "" {
		body.Code = strconv.Itoa(resp.StatusCode)
	}
	resp.Body.Close()
	return &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: resp},
			Err:      &smithy.GenericAPIError{Code: body.Code, Message: body.Message},
		},
		RequestID: resp.Header.Get("X-Amz-Request-Id"),
	}
}

func (r *rawPut) release() {
	if r.conn == nil {
		return
	}
	if r.stop() {
		r.conn.SetDeadline(time.Time{})
		r.b.raw.put(r.conn)
	} else { // interrupted: its deadline is spent
		r.conn.Close()
	}
	r.conn = nil
}

func (r *rawPut) close() {
	if r.conn == nil {
		return
	}
	r.stop()
	r.conn.Close()
	r.conn = nil
}

// getAlive is get, skipping (and closing) connections the store has
// closed while they were idle: a PUT's body cannot be sent twice, so it
// must not go out on a connection that is already gone. One non-blocking
// peek tells: nothing to read is a live connection.
func (p *rawConns) getAlive() *net.TCPConn {
	for {
		c := p.get()
		if c == nil || alive(c) {
			return c
		}
		c.Close()
	}
}

func alive(c *net.TCPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	var buf [1]byte
	rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
		return true
	})
	return ok
}
