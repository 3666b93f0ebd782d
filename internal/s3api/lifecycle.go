package s3api

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/nixbucket/nixbucket/internal/lifecycle"
	"github.com/nixbucket/nixbucket/internal/meta"
)

// Lifecycle keeps buckets' lifecycle rules (the ?lifecycle sub-resource).
type Lifecycle interface {
	// Rules returns the bucket's rules, none until set.
	Rules(ctx context.Context, bucket string) ([]meta.LifecycleRule, error)
	// SetRules replaces them (none removes them); a rule nixbucket will
	// not carry out fails with lifecycle.ErrInvalidRule.
	SetRules(ctx context.Context, bucket string, rules []meta.LifecycleRule) error
}

// The XML of PutBucketLifecycleConfiguration and its GET. Elements
// nixbucket does not carry out land in the Other fields, so they are
// refused by name instead of silently ignored.
type (
	lifecycleConfiguration struct {
		XMLName xml.Name        `xml:"LifecycleConfiguration"`
		NS      string          `xml:"xmlns,attr,omitempty"`
		Rules   []lifecycleRule `xml:"Rule"`
		Other   []xmlElement    `xml:",any"`
	}
	lifecycleRule struct {
		ID                             string                   `xml:"ID,omitempty"`
		Prefix                         *string                  `xml:"Prefix"` // legacy, instead of Filter
		Filter                         *lifecycleFilter         `xml:"Filter"`
		Status                         string                   `xml:"Status"`
		Expiration                     *lifecycleExpiration     `xml:"Expiration"`
		AbortIncompleteMultipartUpload *lifecycleAbortMultipart `xml:"AbortIncompleteMultipartUpload"`
		Other                          []xmlElement             `xml:",any"`
	}
	lifecycleFilter struct {
		Prefix *string       `xml:"Prefix"`
		And    *lifecycleAnd `xml:"And"`
		Other  []xmlElement  `xml:",any"`
	}
	lifecycleAnd struct {
		Prefix *string      `xml:"Prefix"`
		Other  []xmlElement `xml:",any"`
	}
	lifecycleExpiration struct {
		Days  *int         `xml:"Days"`
		Other []xmlElement `xml:",any"`
	}
	lifecycleAbortMultipart struct {
		DaysAfterInitiation *int         `xml:"DaysAfterInitiation"`
		Other               []xmlElement `xml:",any"`
	}
	xmlElement struct {
		XMLName xml.Name
	}
)

// supportedLifecycle says what nixbucket carries out, for refusals.
const supportedLifecycle = "nixbucket supports the actions AbortIncompleteMultipartUpload (DaysAfterInitiation) and Expiration (Days), with a Prefix filter"

func putBucketLifecycle(q *request) error {
	if err := q.allow("s3:PutLifecycleConfiguration", q.bucketARN()); err != nil {
		return err
	}
	if q.h.Lifecycle == nil {
		return notImplemented(q)
	}
	if _, err := q.h.Objects.Bucket(q.Context(), q.bucket); err != nil {
		return err
	}
	var c lifecycleConfiguration
	if err := readXML(q, &c); err != nil {
		return err
	}
	rules, err := c.rules()
	if err != nil {
		return err
	}
	if err := q.h.Lifecycle.SetRules(q.Context(), q.bucket, rules); err != nil {
		if errors.Is(err, lifecycle.ErrInvalidRule) {
			return errorf("InvalidArgument", strings.TrimPrefix(err.Error(), lifecycle.ErrInvalidRule.Error()+": "))
		}
		return err
	}
	q.w.WriteHeader(http.StatusOK)
	return nil
}

func getBucketLifecycle(q *request) error {
	if err := q.allow("s3:GetLifecycleConfiguration", q.bucketARN()); err != nil {
		return err
	}
	if q.h.Lifecycle == nil {
		return notFound("s3:GetLifecycleConfiguration", "NoSuchLifecycleConfiguration")(q)
	}
	rules, err := q.h.Lifecycle.Rules(q.Context(), q.bucket)
	if err != nil {
		return err
	}
	if len(rules) == 0 {
		return errorf("NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist")
	}
	c := lifecycleConfiguration{NS: s3NS}
	for _, r := range rules {
		x := lifecycleRule{ID: r.ID, Filter: &lifecycleFilter{Prefix: &r.Prefix}, Status: "Disabled"}
		if r.Enabled {
			x.Status = "Enabled"
		}
		if r.ExpirationDays > 0 {
			x.Expiration = &lifecycleExpiration{Days: &r.ExpirationDays}
		}
		if r.AbortUploadsDays > 0 {
			x.AbortIncompleteMultipartUpload = &lifecycleAbortMultipart{DaysAfterInitiation: &r.AbortUploadsDays}
		}
		c.Rules = append(c.Rules, x)
	}
	writeXML(q.w, http.StatusOK, c)
	return nil
}

func deleteBucketLifecycle(q *request) error {
	// AWS authorizes DeleteBucketLifecycle with s3:PutLifecycleConfiguration.
	if err := q.allow("s3:PutLifecycleConfiguration", q.bucketARN()); err != nil {
		return err
	}
	if q.h.Lifecycle == nil {
		return notImplemented(q)
	}
	if _, err := q.h.Objects.Bucket(q.Context(), q.bucket); err != nil {
		return err
	}
	if err := q.h.Lifecycle.SetRules(q.Context(), q.bucket, nil); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// rules turns the configuration into stored rules, refusing what
// nixbucket does not carry out by name (NotImplemented) and what S3
// refuses (MalformedXML, InvalidArgument).
func (c *lifecycleConfiguration) rules() ([]meta.LifecycleRule, error) {
	if err := refuseOther("the lifecycle configuration", c.Other); err != nil {
		return nil, err
	}
	if len(c.Rules) == 0 {
		return nil, errorf("MalformedXML", "A lifecycle configuration must have at least one Rule.")
	}
	rules := make([]meta.LifecycleRule, 0, len(c.Rules))
	for _, x := range c.Rules {
		where := fmt.Sprintf("rule %q", x.ID)
		r := meta.LifecycleRule{ID: x.ID}
		switch x.Status {
		case "Enabled":
			r.Enabled = true
		case "Disabled":
		default:
			return nil, errorf("MalformedXML", where+": Status must be Enabled or Disabled")
		}
		if err := refuseOther(where, x.Other); err != nil {
			return nil, err
		}
		switch {
		case x.Prefix != nil && x.Filter != nil:
			return nil, errorf("MalformedXML", where+": give either Filter or Prefix, not both")
		case x.Prefix != nil:
			r.Prefix = *x.Prefix
		case x.Filter != nil:
			f := x.Filter
			if err := refuseOther(where+" Filter", f.Other); err != nil {
				return nil, err
			}
			switch {
			case f.Prefix != nil && f.And != nil:
				return nil, errorf("MalformedXML", where+": a Filter holds one of Prefix or And")
			case f.Prefix != nil:
				r.Prefix = *f.Prefix
			case f.And != nil:
				if err := refuseOther(where+" Filter And", f.And.Other); err != nil {
					return nil, err
				}
				if f.And.Prefix != nil {
					r.Prefix = *f.And.Prefix
				}
			}
		}
		if e := x.Expiration; e != nil {
			if err := refuseOther(where+" Expiration", e.Other); err != nil {
				return nil, err
			}
			if e.Days == nil || *e.Days <= 0 {
				return nil, errorf("InvalidArgument", where+": Expiration Days must be a positive integer")
			}
			r.ExpirationDays = *e.Days
		}
		if a := x.AbortIncompleteMultipartUpload; a != nil {
			if err := refuseOther(where+" AbortIncompleteMultipartUpload", a.Other); err != nil {
				return nil, err
			}
			if a.DaysAfterInitiation == nil || *a.DaysAfterInitiation <= 0 {
				return nil, errorf("InvalidArgument", where+": DaysAfterInitiation must be a positive integer")
			}
			r.AbortUploadsDays = *a.DaysAfterInitiation
		}
		if r.ExpirationDays == 0 && r.AbortUploadsDays == 0 {
			return nil, errorf("InvalidArgument", where+": at least one action needs to be specified in a rule; "+supportedLifecycle)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// refuseOther refuses the elements nixbucket does not carry out, naming
// them, with 501 NotImplemented.
func refuseOther(where string, other []xmlElement) error {
	if len(other) == 0 {
		return nil
	}
	var names []string
	for _, o := range other {
		names = append(names, o.XMLName.Local)
	}
	return errorf("NotImplemented", fmt.Sprintf("%s: %s not supported; %s.", where, strings.Join(names, ", "), supportedLifecycle))
}
