package server_test

import (
	"bytes"
	"crypto/sha256"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nixbucket/nixbucket/internal/lifecycle"
	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

const day = 24 * time.Hour

// expireTmp gives bucket b one rule: Expiration after 1 day under tmp/.
func (e *env) expireTmp(t *testing.T, b string) {
	t.Helper()
	_, err := e.s3.PutBucketLifecycleConfiguration(ctx(t), &s3.PutBucketLifecycleConfigurationInput{
		Bucket: &b,
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{{
			ID:         aws.String("tmp"),
			Status:     types.ExpirationStatusEnabled,
			Filter:     &types.LifecycleRuleFilter{Prefix: aws.String("tmp/")},
			Expiration: &types.LifecycleExpiration{Days: aws.Int32(1)},
		}}},
	})
	if err != nil {
		t.Fatalf("PutBucketLifecycleConfiguration: %v", err)
	}
}

// sweepAt runs one lifecycle sweep with the clock at now+ahead.
func (e *env) sweepAt(t *testing.T, ahead time.Duration) {
	t.Helper()
	at := time.Now().Add(ahead)
	lc := e.srv.Lifecycle()
	lc.Now = func() time.Time { return at }
	if _, err := lc.Sweep(ctx(t)); err != nil {
		t.Fatalf("lifecycle sweep at +%v: %v", ahead, err)
	}
}

func (e *env) uploadIDs(t *testing.T, bucket string) []string {
	t.Helper()
	out, err := e.s3.ListMultipartUploads(ctx(t), &s3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	var ids []string
	for _, u := range out.Uploads {
		ids = append(ids, aws.ToString(u.Key)+" "+aws.ToString(u.UploadId))
	}
	return ids
}

// TestLifecycleAbortsAbandonedUploads: an upload with parts is aborted
// once past its days (a rule's for its prefix, else the default 7), its
// blobs gone from disk; a younger one survives the same sweep.
func TestLifecycleAbortsAbandonedUploads(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("abandoned")
	blobs := filepath.Join(e.data, "blobs")
	before := countFiles(t, blobs)

	// short/ uploads go after 1 day; everything else keeps the default.
	_, err := e.s3.PutBucketLifecycleConfiguration(ctx(t), &s3.PutBucketLifecycleConfigurationInput{
		Bucket: &b,
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{{
			ID:                             aws.String("short"),
			Status:                         types.ExpirationStatusEnabled,
			Filter:                         &types.LifecycleRuleFilter{Prefix: aws.String("short/")},
			AbortIncompleteMultipartUpload: &types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(1)},
		}}},
	})
	if err != nil {
		t.Fatalf("PutBucketLifecycleConfiguration: %v", err)
	}
	short := e.createUpload(t, b, "short/crashed.nar")
	short.part(1, data(1, 5*mib))
	short.part(2, data(2, 2*mib))
	long := e.createUpload(t, b, "nar/crashed.nar")
	long.part(1, data(3, 5*mib))
	if n := countFiles(t, blobs); n != before+3 {
		t.Fatalf("%d files under blobs/ with three parts uploaded, want %d", n, before+3)
	}

	e.sweepAt(t, 23*time.Hour) // both younger than their days
	if ids := e.uploadIDs(t, b); len(ids) != 2 {
		t.Fatalf("uploads after a sweep at +23h: %v, want both", ids)
	}
	e.sweepAt(t, day+time.Minute)
	if ids := e.uploadIDs(t, b); len(ids) != 1 || ids[0] != "nar/crashed.nar "+long.id {
		t.Fatalf("uploads after a sweep at +1d: %v, want only nar/crashed.nar (default %d days)", ids, 7)
	}
	if n := countFiles(t, blobs); n != before+1 {
		t.Errorf("%d files under blobs/ after aborting short/crashed.nar, want %d", n, before+1)
	}
	_, err = short.partErr(3, data(4, 10))
	wantCode(t, err, "NoSuchUpload", http.StatusNotFound)

	e.sweepAt(t, 7*day-time.Hour)
	if ids := e.uploadIDs(t, b); len(ids) != 1 {
		t.Fatalf("uploads after a sweep at +7d-1h: %v, want nar/crashed.nar still", ids)
	}
	lc := e.srv.Lifecycle()
	at := time.Now().Add(7*day + time.Minute)
	lc.Now = func() time.Time { return at }
	rep, err := lc.Sweep(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if rep.UploadsAborted != 1 || rep.UploadBytes != 5*mib {
		t.Errorf("sweep at +7d: %+v, want 1 upload of %d bytes aborted", rep, 5*mib)
	}
	if ids := e.uploadIDs(t, b); len(ids) != 0 {
		t.Errorf("uploads after a sweep at +7d: %v, want none", ids)
	}
	if n := countFiles(t, blobs); n != before {
		t.Errorf("%d files under blobs/ after every upload was aborted, want %d", n, before)
	}
}

// TestLifecycleDisabledDefault: a disabled whole-bucket abort rule turns
// the default off.
func TestLifecycleDisabledDefault(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("keepuploads")
	_, err := e.s3.PutBucketLifecycleConfiguration(ctx(t), &s3.PutBucketLifecycleConfigurationInput{
		Bucket: &b,
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{{
			ID:                             aws.String("off"),
			Status:                         types.ExpirationStatusDisabled,
			Filter:                         &types.LifecycleRuleFilter{Prefix: aws.String("")},
			AbortIncompleteMultipartUpload: &types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(7)},
		}}},
	})
	if err != nil {
		t.Fatalf("PutBucketLifecycleConfiguration: %v", err)
	}
	e.createUpload(t, b, "slow.bin").part(1, data(5, 100))
	e.sweepAt(t, 30*day)
	if ids := e.uploadIDs(t, b); len(ids) != 1 {
		t.Errorf("uploads after 30 days with the default off: %v, want the one", ids)
	}
}

// TestLifecycleExpiration: Expiration on tmp/ deletes objects older than
// its days, in batches, blobs included, and keeps younger ones and every
// other prefix.
func TestLifecycleExpiration(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("expire")
	blobs := filepath.Join(e.data, "blobs")
	before := countFiles(t, blobs)
	e.expireTmp(t, b)
	const n = 250 // more than one batch
	// written is the day the objects were written, at 00:00 UTC; the puts
	// go again in the rare case they straddle a midnight.
	var written time.Time
	for {
		written = time.Now().UTC().Truncate(day)
		for i := range n {
			e.put(b, "tmp/f"+strconv.Itoa(i), []byte("scratch "+strconv.Itoa(i)))
		}
		e.put(b, "tmp/big", data(6, mib))
		e.put(b, "keep/big", data(7, mib))
		e.put(b, "tmpfile", []byte("not under tmp/"))
		if time.Now().UTC().Truncate(day).Equal(written) {
			break
		}
	}

	// As on AWS, Days 1 expires an object at the first midnight (UTC) a
	// day or more after its last write: the second midnight after it.
	expiry := written.Add(2 * day)
	sweep := func(at time.Time) lifecycle.Report {
		t.Helper()
		lc := e.srv.Lifecycle()
		lc.Now = func() time.Time { return at }
		rep, err := lc.Sweep(ctx(t))
		if err != nil {
			t.Fatalf("lifecycle sweep at %v: %v", at, err)
		}
		return rep
	}
	sweep(time.Now().Add(23 * time.Hour))
	sweep(expiry.Add(-time.Second)) // more than a day after every write
	if got := e.keys(t, b); len(got) != n+3 {
		t.Fatalf("%d keys after a sweep a second before their expiry (%v), want all %d", len(got), expiry, n+3)
	}
	rep := sweep(expiry.Add(time.Second))
	if rep.ObjectsExpired != n+1 || rep.ObjectBytes < mib {
		t.Errorf("sweep past expiry: %+v, want %d objects expired, over %d bytes", rep, n+1, mib)
	}
	if got := strings.Join(e.keys(t, b), " "); got != "keep/big tmpfile" {
		t.Errorf("keys after a sweep past expiry: %s, want keep/big tmpfile", got)
	}
	if n := countFiles(t, blobs); n != before+1 {
		t.Errorf("%d files under blobs/, want %d (keep/big's)", n, before+1)
	}

	// A young object under tmp/ stays in the next sweep.
	e.put(b, "tmp/young", []byte("new"))
	e.sweepAt(t, 2*time.Hour)
	if got := strings.Join(e.keys(t, b), " "); got != "keep/big tmp/young tmpfile" {
		t.Errorf("keys after a sweep at +2h: %s, want keep/big tmp/young tmpfile", got)
	}
}

func (e *env) keys(t *testing.T, bucket string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(e.s3, &s3.ListObjectsV2Input{Bucket: &bucket})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatalf("ListObjectsV2: %v", err)
		}
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// TestLifecycleConfiguration: the S3 face: GET before any is 404
// NoSuchLifecycleConfiguration, PUT then GET gives the rules back,
// Expiration where Nix paths live is refused pointing at keep-days,
// DELETE removes the configuration.
func TestLifecycleConfiguration(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("lcconf")
	c := ctx(t)
	_, err := e.s3.GetBucketLifecycleConfiguration(c, &s3.GetBucketLifecycleConfigurationInput{Bucket: &b})
	wantCode(t, err, "NoSuchLifecycleConfiguration", http.StatusNotFound)
	missing := "no-such-bucket"
	_, err = e.s3.GetBucketLifecycleConfiguration(c, &s3.GetBucketLifecycleConfigurationInput{Bucket: &missing})
	wantCode(t, err, "NoSuchBucket", http.StatusNotFound)

	put := func(rules ...types.LifecycleRule) error {
		_, err := e.s3.PutBucketLifecycleConfiguration(c, &s3.PutBucketLifecycleConfigurationInput{
			Bucket: &b, LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: rules},
		})
		return err
	}
	expire := func(prefix string) types.LifecycleRule {
		return types.LifecycleRule{ID: aws.String("x"), Status: types.ExpirationStatusEnabled,
			Filter: &types.LifecycleRuleFilter{Prefix: aws.String(prefix)}, Expiration: &types.LifecycleExpiration{Days: aws.Int32(3)}}
	}
	for _, prefix := range []string{"", "nar/", "nar", "0c9g"} {
		err := put(expire(prefix))
		wantCode(t, err, "InvalidArgument", http.StatusBadRequest)
		if err == nil || !strings.Contains(err.Error(), "nixbucket bucket set BUCKET keep-days=") {
			t.Errorf("Expiration on %q: %v, want a pointer to keep-days", prefix, err)
		}
	}
	_, err = e.s3.GetBucketLifecycleConfiguration(c, &s3.GetBucketLifecycleConfigurationInput{Bucket: &b})
	wantCode(t, err, "NoSuchLifecycleConfiguration", http.StatusNotFound)

	if err := put(expire("tmp/"), types.LifecycleRule{ID: aws.String("uploads"), Status: types.ExpirationStatusEnabled,
		Prefix: aws.String(""), AbortIncompleteMultipartUpload: &types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(2)}}); err != nil {
		t.Fatalf("PutBucketLifecycleConfiguration: %v", err)
	}
	out, err := e.s3.GetBucketLifecycleConfiguration(c, &s3.GetBucketLifecycleConfigurationInput{Bucket: &b})
	if err != nil {
		t.Fatalf("GetBucketLifecycleConfiguration: %v", err)
	}
	if len(out.Rules) != 2 {
		t.Fatalf("GetBucketLifecycleConfiguration: %d rules, want 2", len(out.Rules))
	}
	r0, r1 := out.Rules[0], out.Rules[1]
	if aws.ToString(r0.ID) != "x" || r0.Status != types.ExpirationStatusEnabled || r0.Filter == nil || aws.ToString(r0.Filter.Prefix) != "tmp/" ||
		r0.Expiration == nil || aws.ToInt32(r0.Expiration.Days) != 3 || r0.AbortIncompleteMultipartUpload != nil {
		t.Errorf("rule 0: %+v", r0)
	}
	if aws.ToString(r1.ID) != "uploads" || r1.Filter == nil || aws.ToString(r1.Filter.Prefix) != "" || r1.Expiration != nil ||
		r1.AbortIncompleteMultipartUpload == nil || aws.ToInt32(r1.AbortIncompleteMultipartUpload.DaysAfterInitiation) != 2 {
		t.Errorf("rule 1: %+v", r1)
	}
	if days, err := e.srv.Lifecycle().AbortUploadsDays(c, b); err != nil || days != 2 {
		t.Errorf("abort-uploads-days = %d, %v; want 2 from the whole-bucket rule", days, err)
	}

	if _, err := e.s3.DeleteBucketLifecycle(c, &s3.DeleteBucketLifecycleInput{Bucket: &b}); err != nil {
		t.Fatalf("DeleteBucketLifecycle: %v", err)
	}
	_, err = e.s3.GetBucketLifecycleConfiguration(c, &s3.GetBucketLifecycleConfigurationInput{Bucket: &b})
	wantCode(t, err, "NoSuchLifecycleConfiguration", http.StatusNotFound)
}

// TestLifecyclePolicyActions: GET needs s3:GetLifecycleConfiguration; PUT
// and, as on AWS, DELETE need s3:PutLifecycleConfiguration.
func TestLifecyclePolicyActions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("lcpolicy")
	c := ctx(t)
	user := func(name, action string) *s3.Client {
		doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"` + action + `","Resource":"arn:aws:s3:::` + b + `"}]}`
		k, err := e.srv.Access().CreateUser(c, name, []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		return e.newS3(k.ID, k.Secret)
	}
	reader, writer := user("reader", "s3:GetLifecycleConfiguration"), user("writer", "s3:PutLifecycleConfiguration")
	in := &s3.PutBucketLifecycleConfigurationInput{Bucket: &b, LifecycleConfiguration: &types.BucketLifecycleConfiguration{
		Rules: []types.LifecycleRule{{ID: aws.String("u"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")},
			AbortIncompleteMultipartUpload: &types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(1)}}},
	}}
	_, err := reader.PutBucketLifecycleConfiguration(c, in)
	wantCode(t, err, "AccessDenied", http.StatusForbidden)
	if _, err := writer.PutBucketLifecycleConfiguration(c, in); err != nil {
		t.Fatalf("PutBucketLifecycleConfiguration with s3:PutLifecycleConfiguration: %v", err)
	}
	_, err = writer.GetBucketLifecycleConfiguration(c, &s3.GetBucketLifecycleConfigurationInput{Bucket: &b})
	wantCode(t, err, "AccessDenied", http.StatusForbidden)
	if _, err := reader.GetBucketLifecycleConfiguration(c, &s3.GetBucketLifecycleConfigurationInput{Bucket: &b}); err != nil {
		t.Fatalf("GetBucketLifecycleConfiguration with s3:GetLifecycleConfiguration: %v", err)
	}
	_, err = reader.DeleteBucketLifecycle(c, &s3.DeleteBucketLifecycleInput{Bucket: &b})
	wantCode(t, err, "AccessDenied", http.StatusForbidden)
	if _, err := writer.DeleteBucketLifecycle(c, &s3.DeleteBucketLifecycleInput{Bucket: &b}); err != nil {
		t.Fatalf("DeleteBucketLifecycle with s3:PutLifecycleConfiguration: %v", err)
	}
}

// TestLifecycleExpirationKeepsNARs: a narinfo may name a NAR anywhere in
// the bucket, under a prefix an Expiration rule covers too (a cache laid
// out by another tool); the sweep expires the scratch objects there, and
// keeps the NAR while the narinfo names it, so the cache never serves a
// narinfo whose NAR is gone.
// It runs on both metadata stores, whose CollectObject the sweep's
// deletes go through.
func TestLifecycleExpirationKeepsNARs(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) { testExpirationKeepsNARs(t, newEnv(t)) })
	t.Run("postgres", func(t *testing.T) { testExpirationKeepsNARs(t, newEnv(t, withMeta(testenv.Postgres(t)))) })
}

func testExpirationKeepsNARs(t *testing.T, e *env) {
	b := e.bucket("expnar")
	e.expireTmp(t, b)
	nar := data(11, 4096)
	const hash = "0c9glqcqcmasc3ppv1w2wyzv1wdv9n9s"
	url, ni := narUnder(e, b, "tmp/", nar, hash)
	e.put(b, hash+".narinfo", []byte(ni.String()))
	e.put(b, "tmp/scratch", []byte("scratch"))

	e.sweepAt(t, 3*day)
	if got := strings.Join(e.keys(t, b), " "); got != hash+".narinfo "+url {
		t.Errorf("keys after a sweep at +3d: %s, want the narinfo and its NAR under tmp/, and tmp/scratch expired", got)
	}
	if got := e.get(b, served(e, b, hash).URL); !bytes.Equal(got, nar) {
		t.Errorf("the served narinfo's NAR: %d bytes, want the %d pushed", len(got), len(nar))
	}
}

// narUnder puts nar under prefix, named by its hash, and returns its key
// and a narinfo of the path hash (not put) naming it.
func narUnder(e *env, b, prefix string, nar []byte, hash string) (string, narinfo.NarInfo) {
	e.t.Helper()
	sum := nixhash.SHA256(sha256.Sum256(nar))
	url := prefix + sum.Nix32() + ".nar"
	e.put(b, url, nar)
	return url, narinfo.NarInfo{
		StorePath: "/nix/store/" + hash + "-elsewhere", URL: url, Compression: "none",
		FileHash: sum.String(), FileSize: uint64(len(nar)), NarHash: sum.String(), NarSize: uint64(len(nar)),
	}
}
