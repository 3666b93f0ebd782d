package s3api

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/policy"
)

func putBucketPolicy(q *request) error {
	if err := q.allow("s3:PutBucketPolicy", q.bucketARN()); err != nil {
		return err
	}
	if _, err := q.h.Objects.Bucket(q.Context(), q.bucket); err != nil {
		return err
	}
	doc, err := io.ReadAll(io.LimitReader(readerOf(q), policy.MaxSize+1))
	if err != nil {
		return err
	}
	if len(doc) > policy.MaxSize {
		return errorf("PolicyTooLarge", "Policies must be no more than 20,480 bytes")
	}
	if err := checkDigests(q, doc); err != nil {
		return err
	}
	if len(strings.TrimSpace(string(doc))) == 0 {
		return errorf("MalformedPolicy", "Policies must be valid JSON and the first byte must be '{'")
	}
	if err := q.h.Access.SetBucketPolicy(q.Context(), q.bucket, doc); err != nil {
		if errors.Is(err, access.ErrMalformedPolicy) {
			return errorf("MalformedPolicy", strings.TrimPrefix(err.Error(), access.ErrMalformedPolicy.Error()+": "))
		}
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

func getBucketPolicy(q *request) error {
	if err := q.allow("s3:GetBucketPolicy", q.bucketARN()); err != nil {
		return err
	}
	doc, err := q.h.Access.BucketPolicy(q.Context(), q.bucket)
	if err != nil {
		return err
	}
	q.w.Header().Set("Content-Type", "application/json")
	q.w.WriteHeader(http.StatusOK)
	q.w.Write(doc)
	return nil
}

func deleteBucketPolicy(q *request) error {
	if err := q.allow("s3:DeleteBucketPolicy", q.bucketARN()); err != nil {
		return err
	}
	if _, err := q.h.Objects.Bucket(q.Context(), q.bucket); err != nil {
		return err
	}
	if err := q.h.Access.DeleteBucketPolicy(q.Context(), q.bucket); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}
