package s3api

import (
	"bytes"
	"crypto/sha256"
	"hash"
	"io"
	"net/http"

	"github.com/nixbucket/nixbucket/internal/access"
)

// Identify authenticates r the way every S3 request is: an S3 signature
// (V4 or V2, header or presigned), Bearer or HTTP Basic credentials, or
// nobody. nixbucket's own APIs beside S3 (the pins API) call it, so that
// they know their callers exactly as the S3 and binary-cache protocols
// do. It returns the identity and the body to read instead of r.Body: for
// a request whose signature covers a payload hash, reading it to the end
// fails unless the bytes match. Errors are *Error values with S3's codes
// (see Status).
func (h *Handler) Identify(r *http.Request) (access.Identity, io.Reader, error) {
	q := &request{Request: r, h: h}
	if err := h.authenticate(q); err != nil {
		if e := h.toS3(err); e != nil {
			return access.Identity{}, nil, e
		}
		return access.Identity{}, nil, err
	}
	body := q.auth.Body
	if q.auth.PayloadSHA256 != nil {
		body = &sha256Reader{r: body, h: sha256.New(), want: q.auth.PayloadSHA256}
	}
	return q.id, body, nil
}

// Status is the HTTP status of an S3 error code: 400 for a code outside
// the table.
func Status(code string) int {
	return statusOf(code)
}

// sha256Reader fails at the end of a body whose SHA-256 is not want.
type sha256Reader struct {
	r    io.Reader
	h    hash.Hash
	want []byte
}

func (s *sha256Reader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.h.Write(p[:n])
	if err == io.EOF && !bytes.Equal(s.h.Sum(nil), s.want) {
		return n, errorf("XAmzContentSHA256Mismatch", "")
	}
	return n, err
}
