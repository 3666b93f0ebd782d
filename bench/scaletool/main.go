// Command scaletool is bench/scale.sh's helper for what wrk and curl do
// not do: it talks to the S3 store directly (create buckets, upload the
// NAR the direct-GET rows read, presign that GET so wrk can send it), and
// it drives GETs that follow redirects, for the `--redirect-reads` row
// (wrk counts a 307 as an answer and stops there).
//
//	scaletool mkbucket -endpoint URL BUCKET...
//	scaletool put      -endpoint URL -bucket B -key K FILE
//	scaletool presign  -endpoint URL -bucket B -key K [-expires 2h]
//	scaletool head     -endpoint URL -bucket B -key K
//	scaletool get      [-c 8] [-d 5s] [-size BYTES] [-auth HEADER] URL
//
// The S3 subcommands sign with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
// (path-style, region AWS_REGION or us-east-1) and read no shared AWS
// files. get prints the line bench/nix/paths.lua prints at the end of a
// wrk run, so scale.sh parses both alike:
//
//	RESULT requests bytes duration_us non2xx connect read write timeout
//	REDIRECTS n
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx := context.Background()
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "mkbucket":
		err = mkbucket(ctx, args)
	case "put":
		err = put(ctx, args)
	case "presign":
		err = presign(ctx, args)
	case "get":
		err = getCmd(ctx, args)
	case "head":
		err = head(ctx, args)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scaletool:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: scaletool mkbucket|put|presign|get|head [flags] ARGS (see the package doc)")
	os.Exit(2)
}

// s3Flags are the flags of the subcommands that talk S3.
type s3Flags struct {
	fs       *flag.FlagSet
	endpoint *string
	bucket   *string
	key      *string
}

func newS3Flags(name string) s3Flags {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	return s3Flags{
		fs:       fs,
		endpoint: fs.String("endpoint", "", "S3 endpoint, http://HOST:PORT"),
		bucket:   fs.String("bucket", "", "bucket"),
		key:      fs.String("key", "", "object key"),
	}
}

// client returns an S3 client for the endpoint with the environment's
// static credentials.
func (f s3Flags) client(ctx context.Context) (*s3.Client, error) {
	if *f.endpoint == "" {
		return nil, errors.New("-endpoint is required")
	}
	ak, sk := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if ak == "" || sk == "" {
		return nil, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set")
	}
	region := os.Getenv("AWS_REGION")
	if region == "" {
		region = "us-east-1"
	}
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
		config.WithRegion(region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(ak, sk, "")),
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	)
	if err != nil {
		return nil, err
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(*f.endpoint)
		o.UsePathStyle = true
	}), nil
}

func mkbucket(ctx context.Context, args []string) error {
	f := newS3Flags("mkbucket")
	f.fs.Parse(args)
	c, err := f.client(ctx)
	if err != nil {
		return err
	}
	for _, b := range f.fs.Args() {
		_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)})
		var ae smithy.APIError
		if errors.As(err, &ae) && (ae.ErrorCode() == "BucketAlreadyOwnedByYou" || ae.ErrorCode() == "BucketAlreadyExists") {
			continue
		}
		if err != nil {
			return fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	return nil
}

// head sends a HeadObject, and takes a missing key as an answer: through
// a nixbucket node it is a read of the bucket, which makes the node
// register the bucket (bench/putab.sh WATCHED=1).
func head(ctx context.Context, args []string) error {
	f := newS3Flags("head")
	f.fs.Parse(args)
	c, err := f.client(ctx)
	if err != nil {
		return err
	}
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: f.bucket, Key: f.key})
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "NotFound" || ae.ErrorCode() == "NoSuchKey") {
		return nil
	}
	return err
}

func put(ctx context.Context, args []string) error {
	f := newS3Flags("put")
	f.fs.Parse(args)
	if f.fs.NArg() != 1 {
		return errors.New("put: give one FILE")
	}
	c, err := f.client(ctx)
	if err != nil {
		return err
	}
	file, err := os.Open(f.fs.Arg(0))
	if err != nil {
		return err
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return err
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: f.bucket, Key: f.key, Body: file, ContentLength: aws.Int64(fi.Size()),
	})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", *f.bucket, *f.key, err)
	}
	return nil
}

func presign(ctx context.Context, args []string) error {
	f := newS3Flags("presign")
	expires := f.fs.Duration("expires", 2*time.Hour, "how long the URL stays valid")
	f.fs.Parse(args)
	c, err := f.client(ctx)
	if err != nil {
		return err
	}
	req, err := s3.NewPresignClient(c).PresignGetObject(ctx,
		&s3.GetObjectInput{Bucket: f.bucket, Key: f.key}, s3.WithPresignExpires(*expires))
	if err != nil {
		return fmt.Errorf("presign s3://%s/%s: %w", *f.bucket, *f.key, err)
	}
	fmt.Println(req.URL)
	return nil
}
