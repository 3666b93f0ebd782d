package s3store

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/nixbucket/nixbucket/internal/storage"
)

// A streamed blob (stream.go) whose SHA-256 the client signed can have
// the store check it (storage.StoreVerifier): the PutObject (or part) is
// signed with that SHA-256 as its x-amz-content-sha256, which an S3
// store verifies against the bytes it receives before it stores them,
// and the store's ETag, the MD5 of those bytes, becomes the object's.
// The server then hashes nothing of the body but the cheap CRC it keeps,
// where it would otherwise compute SHA-256 and MD5 of every byte while
// the store computes them again: on a PUT through to versitygw those two
// were three quarters of the server's CPU (bench/scale.sh).
//
// A store is trusted with it only once it has shown, with a probe, that
// it refuses bytes whose SHA-256 is not the one signed and that its
// ETags are the MD5 of the bytes (not so under SSE-KMS or SSE-C). The
// probe runs on the first streamed blob that asks, not at Open, so that
// the admin commands pay nothing.

// verifyState is what the probe found.
type verifyState struct {
	mu      sync.Mutex
	decided bool
	trusted bool
	retryAt time.Time // after a probe that failed for another reason
}

// probeRetry is how long a store that could not be probed (down,
// refusing the credentials) is not asked again; its blobs are hashed by
// the server meanwhile.
const probeRetry = time.Minute

// storeVerifies reports whether the store can be trusted to check a
// signed payload hash and to give MD5 ETags, probing it the first time.
func (b *Backend) storeVerifies(ctx context.Context) bool {
	v := &b.verify
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.decided {
		return v.trusted
	}
	if time.Now().Before(v.retryAt) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	trusted, err := b.probeVerify(ctx)
	if err != nil {
		v.retryAt = time.Now().Add(probeRetry)
		return false
	}
	v.decided, v.trusted = true, trusted
	return trusted
}

// probeBody is what the probe stores, for a moment, under probe/.
const probeBody = "nixbucket: does this store check x-amz-content-sha256 and give MD5 ETags?\n"

// probeVerify PUTs a small object signed with another body's SHA-256,
// which a store that checks must refuse, then the same with its own,
// whose ETag must be its MD5. Either object is deleted. err is set when
// the probe could not tell (a network failure, refused credentials).
func (b *Backend) probeVerify(ctx context.Context) (bool, error) {
	key := aws.String(b.cfg.Prefix + "probe/" + newID())
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.cfg.Bucket), Key: key})
	}()
	put := func(sum [sha256.Size]byte) (*s3.PutObjectOutput, error) {
		return b.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(b.cfg.Bucket), Key: key, Body: strings.NewReader(probeBody),
			ContentLength: aws.Int64(int64(len(probeBody))),
		}, signedWith(sum[:]))
	}
	_, err := put(sha256.Sum256([]byte(probeBody + "?")))
	if err == nil {
		return false, nil // stored bytes that do not match their signed hash
	}
	if !isDigestRefusal(err) {
		return false, fmt.Errorf("probe: a PUT with a wrong payload hash: %w", err)
	}
	out, err := put(sha256.Sum256([]byte(probeBody)))
	if err != nil {
		return false, fmt.Errorf("probe: %w", err)
	}
	sum := md5.Sum([]byte(probeBody))
	_, ok := etagMD5(out.ETag, out.ServerSideEncryption, out.SSECustomerAlgorithm)
	return ok && strings.EqualFold(strings.Trim(aws.ToString(out.ETag), `"`), hex.EncodeToString(sum[:])), nil
}

// isDigestRefusal reports whether err is a store's refusal of a body
// that does not match its signed SHA-256 (AWS and most stores answer
// XAmzContentSHA256Mismatch; some BadDigest).
func isDigestRefusal(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "XAmzContentSHA256Mismatch", "BadDigest":
		return true
	}
	return false
}

// etagMD5 returns the MD5 an ETag is, where S3 makes it one: for a
// PutObject or a part stored unencrypted or with SSE-S3.
func etagMD5(etag *string, sse types.ServerSideEncryption, ssec *string) ([]byte, bool) {
	if sse == types.ServerSideEncryptionAwsKms || sse == types.ServerSideEncryptionAwsKmsDsse || aws.ToString(ssec) != "" {
		return nil, false
	}
	sum, err := hex.DecodeString(strings.Trim(aws.ToString(etag), `"`))
	if err != nil || len(sum) != md5.Size {
		return nil, false
	}
	return sum, true
}

// signedWith signs a request with sum as its payload hash, which the
// store then checks against the body, instead of the SDK hashing the
// body first (or sending UNSIGNED-PAYLOAD).
func signedWith(sum []byte) func(*s3.Options) {
	h := hex.EncodeToString(sum)
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			_, err := st.Finalize.Swap("ComputePayloadHash", knownPayloadHash(h))
			return err
		})
	}
}

// knownPayloadHash is the SDK's payload-hash step given the hash.
type knownPayloadHash string

func (knownPayloadHash) ID() string { return "ComputePayloadHash" }

func (h knownPayloadHash) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	return next.HandleFinalize(v4.SetPayloadHash(ctx, string(h)), in)
}

// md5Of reads a committed blob back for its MD5: the rare way out when a
// store trusted to give MD5 ETags gave another (its bucket was switched
// to SSE-KMS since the probe).
func (b *Backend) md5Of(ctx context.Context, id string) ([]byte, error) {
	bl, err := b.OpenStream(ctx, id)
	if err != nil {
		return nil, err
	}
	defer bl.Close()
	h := md5.New()
	if _, err := io.Copy(h, bl); err != nil {
		return nil, fmt.Errorf("read blob %s back for its MD5: %w", id, err)
	}
	return h.Sum(nil), nil
}

var _ storage.StoreVerifier = (*streamWriter)(nil)
