package policy

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Request is one authorization question: may Principal perform Action on
// Resource, given Context? The caller builds it once per request; Evaluate and
// Decide only read it.
type Request struct {
	// Action is the IAM action, such as "s3:GetObject". It is matched
	// case-insensitively.
	Action string
	// Resource is the ARN acted on: BucketARN for bucket-level actions,
	// ObjectARN for object-level ones, "arn:aws:s3:::*" for ListAllMyBuckets.
	// It is matched case-sensitively.
	Resource  string
	Principal Principal
	Context   Context
}

// Principal is who is asking. The zero Principal is the anonymous caller
// (no signature, no token), which bucket policies know as "*".
type Principal struct {
	// ARN identifies an authenticated caller, such as
	// "arn:aws:iam::000000000000:user/NAME". An empty ARN means anonymous.
	ARN string
	// Account is the caller's 12-digit account id; it makes account
	// principals ("000000000000", "arn:aws:iam::000000000000:root") match.
	Account string
	// Username is the IAM user name, the value of aws:username; empty for
	// callers that are not IAM users (AWS leaves the key out for them).
	Username string
	// UserID is the value of aws:userid; empty leaves the key out.
	UserID string
}

// User returns the principal of the IAM user name in account.
func User(account, name string) Principal {
	return Principal{ARN: UserARN(account, name), Account: account, Username: name}
}

// IsAnonymous reports whether p is the anonymous caller.
func (p *Principal) IsAnonymous() bool { return p.ARN == "" }

// UserARN returns "arn:aws:iam::ACCOUNT:user/NAME".
func UserARN(account, name string) string { return "arn:aws:iam::" + account + ":user/" + name }

// BucketARN returns the resource ARN of a bucket, for bucket-level actions.
func BucketARN(bucket string) string { return "arn:aws:s3:::" + bucket }

// ObjectARN returns the resource ARN of an object, for object-level actions.
func ObjectARN(bucket, key string) string { return "arn:aws:s3:::" + bucket + "/" + key }

// Context holds the values of the condition keys nixbucket supplies. A key
// whose value is the zero value (or whose Has flag is false) is absent from
// the request context, which matters to conditions: see Evaluate.
//
// aws:username, aws:userid, aws:PrincipalArn and aws:PrincipalAccount come
// from Request.Principal; aws:EpochTime comes from CurrentTime.
type Context struct {
	// SecureTransport is aws:SecureTransport: whether the request came over
	// TLS. The key is always present, as in AWS.
	SecureTransport bool
	// SourceIP is aws:SourceIp; the invalid zero Addr leaves it out.
	// IPv4-mapped IPv6 addresses are compared as IPv4.
	SourceIP netip.Addr
	// CurrentTime is aws:CurrentTime and aws:EpochTime; zero leaves them out.
	CurrentTime time.Time
	// UserAgent is aws:UserAgent and Referer is aws:Referer; empty leaves
	// them out.
	UserAgent string
	Referer   string

	// Prefix, Delimiter and MaxKeys are s3:prefix, s3:delimiter and
	// s3:max-keys, the ListObjects query parameters, present when their Has
	// flag is set (an empty "prefix=" is present and empty). MaxKeys is the
	// raw query value; numeric conditions parse it.
	Prefix       string
	HasPrefix    bool
	Delimiter    string
	HasDelimiter bool
	MaxKeys      string
	HasMaxKeys   bool
}

// keyID names a condition key after parsing, so evaluation never looks a
// name up.
type keyID uint8

const (
	// keyNever is a key AWS defines but nixbucket never supplies (such as
	// aws:SourceVpce): always absent, so conditions on it behave as they do
	// in AWS for a request that lacks it.
	keyNever keyID = iota
	keySecureTransport
	keySourceIP
	keyCurrentTime
	keyEpochTime
	keyUsername
	keyUserID
	keyPrincipalArn
	keyPrincipalAccount
	keyUserAgent
	keyReferer
	keyPrefix
	keyDelimiter
	keyMaxKeys
)

// suppliedKeys maps the lower-cased names of the keys nixbucket supplies.
// Condition key names are case-insensitive in AWS.
var suppliedKeys = map[string]keyID{
	"aws:securetransport":  keySecureTransport,
	"aws:sourceip":         keySourceIP,
	"aws:currenttime":      keyCurrentTime,
	"aws:epochtime":        keyEpochTime,
	"aws:username":         keyUsername,
	"aws:userid":           keyUserID,
	"aws:principalarn":     keyPrincipalArn,
	"aws:principalaccount": keyPrincipalAccount,
	"aws:useragent":        keyUserAgent,
	"aws:referer":          keyReferer,
	"s3:prefix":            keyPrefix,
	"s3:delimiter":         keyDelimiter,
	"s3:max-keys":          keyMaxKeys,
}

// neverKeys lists keys that AWS defines for S3 requests but nixbucket does
// not supply. Policies written for AWS that use them still parse; anything
// else is a MalformedPolicy, as S3 answers "invalid condition key".
var neverKeys = setOf(`
	aws:calledvia aws:calledviafirst aws:calledvialast aws:federatedprovider
	aws:multifactorauthage aws:multifactorauthpresent aws:principalisawsservice
	aws:principalorgid aws:principalorgpaths aws:principalservicename
	aws:principalservicenameslist aws:principaltype aws:requestedregion
	aws:resourceaccount aws:resourceorgid aws:resourceorgpaths
	aws:sourceaccount aws:sourcearn aws:sourceidentity aws:sourceorgid
	aws:sourceorgpaths aws:sourcevpc aws:sourcevpce aws:sourcevpcarn
	aws:tagkeys aws:tokenissuetime aws:viaawsservice aws:vpcsourceip
	aws:ec2instancesourceprivateipv4 aws:ec2instancesourcevpc
	s3:accesspointnetworkorigin s3:authtype s3:dataaccesspointaccount
	s3:dataaccesspointarn s3:object-lock-legal-hold s3:object-lock-mode
	s3:object-lock-remaining-retention-days s3:objectcreationoperation
	s3:requestobjecttagkeys s3:resourceaccount s3:signatureage
	s3:signatureversion s3:tlsversion s3:versionid s3:x-amz-acl
	s3:x-amz-content-sha256 s3:x-amz-copy-source s3:x-amz-grant-full-control
	s3:x-amz-grant-read s3:x-amz-grant-read-acp s3:x-amz-grant-write
	s3:x-amz-grant-write-acp s3:x-amz-metadata-directive
	s3:x-amz-object-ownership
	s3:x-amz-server-side-encryption-customer-algorithm
	s3:x-amz-website-redirect-location s3:if-match s3:if-none-match
	s3:locationconstraint s3:object-lock-retain-until-date
	s3:x-amz-server-side-encryption s3:x-amz-server-side-encryption-aws-kms-key-id
	s3:x-amz-storage-class
`)

func setOf(words string) map[string]bool {
	m := make(map[string]bool)
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

// neverKeyPrefixes are the tag-key families (aws:PrincipalTag/NAME, ...).
var neverKeyPrefixes = []string{
	"aws:principaltag/", "aws:requesttag/", "aws:resourcetag/",
	"s3:existingobjecttag/", "s3:requestobjecttag/",
}

// lookupKey resolves a condition key name, case-insensitively.
func lookupKey(name string) (keyID, bool) {
	l := strings.ToLower(name)
	if id, ok := suppliedKeys[l]; ok {
		return id, true
	}
	if neverKeys[l] {
		return keyNever, true
	}
	for _, p := range neverKeyPrefixes {
		if len(l) > len(p) && strings.HasPrefix(l, p) {
			return keyNever, true
		}
	}
	return keyNever, false
}

// present reports whether key k is in the request context.
func (r *Request) present(k keyID) bool {
	c := &r.Context
	switch k {
	case keySecureTransport:
		return true
	case keySourceIP:
		return c.SourceIP.IsValid()
	case keyCurrentTime, keyEpochTime:
		return !c.CurrentTime.IsZero()
	case keyUsername:
		return r.Principal.ARN != "" && r.Principal.Username != ""
	case keyUserID:
		return r.Principal.UserID != ""
	case keyPrincipalArn:
		return r.Principal.ARN != ""
	case keyPrincipalAccount:
		return r.Principal.ARN != "" && r.Principal.Account != ""
	case keyUserAgent:
		return c.UserAgent != ""
	case keyReferer:
		return c.Referer != ""
	case keyPrefix:
		return c.HasPrefix
	case keyDelimiter:
		return c.HasDelimiter
	case keyMaxKeys:
		return c.HasMaxKeys
	}
	return false
}

// str returns the string form of key k. It allocates only for aws:SourceIp,
// aws:CurrentTime and aws:EpochTime, whose values are not strings.
func (r *Request) str(k keyID) (string, bool) {
	if !r.present(k) {
		return "", false
	}
	c := &r.Context
	switch k {
	case keySecureTransport:
		return strconv.FormatBool(c.SecureTransport), true
	case keySourceIP:
		return c.SourceIP.Unmap().String(), true
	case keyCurrentTime:
		return c.CurrentTime.UTC().Format(time.RFC3339), true
	case keyEpochTime:
		return strconv.FormatInt(c.CurrentTime.Unix(), 10), true
	case keyUsername:
		return r.Principal.Username, true
	case keyUserID:
		return r.Principal.UserID, true
	case keyPrincipalArn:
		return r.Principal.ARN, true
	case keyPrincipalAccount:
		return r.Principal.Account, true
	case keyUserAgent:
		return c.UserAgent, true
	case keyReferer:
		return c.Referer, true
	case keyPrefix:
		return c.Prefix, true
	case keyDelimiter:
		return c.Delimiter, true
	case keyMaxKeys:
		return c.MaxKeys, true
	}
	return "", false
}

// num returns key k as a number, for the Numeric operators.
func (r *Request) num(k keyID) (float64, bool) {
	switch k {
	case keyEpochTime:
		if !r.present(k) {
			return 0, false
		}
		return float64(r.Context.CurrentTime.Unix()), true
	case keyCurrentTime:
		return 0, false
	}
	s, ok := r.str(k)
	if !ok {
		return 0, false
	}
	return parseNumber(s)
}

// date returns key k as a time, for the Date operators.
func (r *Request) date(k keyID) (time.Time, bool) {
	switch k {
	case keyCurrentTime:
		return r.Context.CurrentTime, r.present(k)
	case keyEpochTime:
		return r.Context.CurrentTime.Truncate(time.Second), r.present(k)
	}
	s, ok := r.str(k)
	if !ok {
		return time.Time{}, false
	}
	return parseDate(s)
}

// addr returns key k as an IP address, for IpAddress and NotIpAddress.
func (r *Request) addr(k keyID) (netip.Addr, bool) {
	if k == keySourceIP {
		return r.Context.SourceIP.Unmap(), r.present(k)
	}
	s, ok := r.str(k)
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	return a.Unmap(), err == nil
}

// boolean returns key k as a boolean, for the Bool operator.
func (r *Request) boolean(k keyID) (v, ok bool) {
	if k == keySecureTransport {
		return r.Context.SecureTransport, true
	}
	s, ok := r.str(k)
	if !ok {
		return false, false
	}
	return parseBool(s)
}
