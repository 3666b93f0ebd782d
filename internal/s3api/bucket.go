package s3api

import (
	"encoding/xml"
	"errors"
	"net/http"

	"github.com/nixbucket/nixbucket/internal/meta"
)

type createBucketConfiguration struct {
	XMLName            xml.Name `xml:"CreateBucketConfiguration"`
	LocationConstraint string
}

// createBucket answers CreateBucket. nixbucket has one account, so an
// existing bucket is always the caller's own: AWS answers 200 to that in
// us-east-1 (its legacy behaviour) and BucketAlreadyOwnedByYou elsewhere
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateBucket.html).
func createBucket(q *request) error {
	if err := q.allow("s3:CreateBucket", q.bucketARN()); err != nil {
		return err
	}
	if err := createBucketHeaders(q.Header); err != nil {
		return err
	}
	var cfg createBucketConfiguration
	if err := readXML(q, &cfg); err != nil && err != errEmptyBody {
		return err
	}
	if err := checkLocation(q.h.region(), cfg.LocationConstraint); err != nil {
		return err
	}
	err := q.h.Objects.CreateBucket(q.Context(), q.bucket)
	if errors.Is(err, meta.ErrBucketExists) && q.h.region() == "us-east-1" {
		err = nil
	}
	if err != nil {
		return err
	}
	q.w.Header().Set("Location", "/"+q.bucket)
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// checkLocation checks a CreateBucket LocationConstraint against the
// server's region as a regional AWS endpoint does: none, or the region
// itself, except that us-east-1 is never named (an empty constraint means
// it, and AWS refuses "us-east-1" spelled out).
func checkLocation(region, lc string) error {
	switch {
	case lc == "", lc == "EU" && region == "eu-west-1": // "EU": the legacy name of eu-west-1
		return nil
	case lc == "us-east-1" && region == "us-east-1":
		return errorf("InvalidLocationConstraint", "The specified location-constraint is not valid")
	case lc != region:
		return errorf("IllegalLocationConstraintException", "The "+lc+" location constraint is incompatible for the region specific endpoint this request was sent to.")
	}
	return nil
}

func (h *Handler) region() string {
	if h.Region == "" {
		return "us-east-1"
	}
	return h.Region
}

func headBucket(q *request) error {
	if err := q.allow("s3:ListBucket", q.bucketARN()); err != nil {
		return err
	}
	if _, err := q.h.Objects.Bucket(q.Context(), q.bucket); err != nil {
		return err
	}
	q.w.Header().Set("x-amz-bucket-region", q.h.region())
	q.w.WriteHeader(http.StatusOK)
	return nil
}

func deleteBucket(q *request) error {
	if err := q.allow("s3:DeleteBucket", q.bucketARN()); err != nil {
		return err
	}
	if err := q.h.Objects.DeleteBucket(q.Context(), q.bucket); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

type locationConstraint struct {
	XMLName xml.Name `xml:"LocationConstraint"`
	NS      string   `xml:"xmlns,attr"`
	Region  string   `xml:",chardata"`
}

func getBucketLocation(q *request) error {
	if err := q.allow("s3:GetBucketLocation", q.bucketARN()); err != nil {
		return err
	}
	if _, err := q.h.Objects.Bucket(q.Context(), q.bucket); err != nil {
		return err
	}
	region := q.h.region()
	if region == "us-east-1" {
		region = "" // AWS answers an empty constraint for us-east-1
	}
	writeXML(q.w, http.StatusOK, locationConstraint{NS: s3NS, Region: region})
	return nil
}

type versioningConfiguration struct {
	XMLName xml.Name `xml:"VersioningConfiguration"`
	NS      string   `xml:"xmlns,attr"`
}

func getBucketVersioning(q *request) error {
	if err := q.allow("s3:GetBucketVersioning", q.bucketARN()); err != nil {
		return err
	}
	if _, err := q.h.Objects.Bucket(q.Context(), q.bucket); err != nil {
		return err
	}
	writeXML(q.w, http.StatusOK, versioningConfiguration{NS: s3NS})
	return nil
}

type accessControlPolicy struct {
	XMLName xml.Name `xml:"AccessControlPolicy"`
	NS      string   `xml:"xmlns,attr"`
	Owner   Owner
	Grants  []grant `xml:"AccessControlList>Grant"`
}

type grant struct {
	Grantee    grantee
	Permission string
}

type grantee struct {
	XMLName     xml.Name `xml:"Grantee"`
	XSI         string   `xml:"xmlns:xsi,attr"`
	Type        string   `xml:"xsi:type,attr"`
	ID          string
	DisplayName string
}

// getACL answers with the owner's FULL_CONTROL, the only ACL nixbucket has;
// access is governed by policies instead (s3cmd info asks for it).
func getACL(q *request) error {
	action, arn := "s3:GetBucketAcl", q.bucketARN()
	if q.key != "" {
		action, arn = "s3:GetObjectAcl", q.objectARN()
	}
	if err := q.allow(action, arn); err != nil {
		return err
	}
	if q.key != "" {
		if _, err := q.h.Objects.Head(q.Context(), q.bucket, q.key); err != nil {
			return err
		}
	} else if _, err := q.h.Objects.Bucket(q.Context(), q.bucket); err != nil {
		return err
	}
	writeXML(q.w, http.StatusOK, accessControlPolicy{NS: s3NS, Owner: owner, Grants: []grant{{
		Grantee:    grantee{XSI: "http://www.w3.org/2001/XMLSchema-instance", Type: "CanonicalUser", ID: owner.ID, DisplayName: owner.DisplayName},
		Permission: "FULL_CONTROL",
	}}})
	return nil
}
