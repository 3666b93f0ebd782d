package target

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go"
)

// expectingRegion finds the region an AuthorizationHeaderMalformed
// message says the signature should have named.
var expectingRegion = regexp.MustCompile(`expecting '([a-z0-9-]+)'`)

// s3Action maps an S3 operation to the IAM action that governs it, for
// AccessDenied messages.
var s3Action = map[string]string{
	"GetObject":               "s3:GetObject",
	"HeadObject":              "s3:GetObject",
	"PutObject":               "s3:PutObject",
	"CreateMultipartUpload":   "s3:PutObject",
	"UploadPart":              "s3:PutObject",
	"CompleteMultipartUpload": "s3:PutObject",
	"AbortMultipartUpload":    "s3:AbortMultipartUpload",
	"ListMultipartUploads":    "s3:ListBucketMultipartUploads",
	"HeadBucket":              "s3:ListBucket",
}

// s3Code returns the error code and HTTP status of an S3 error ("" and 0
// when it is not one).
func s3Code(err error) (string, int) {
	var code string
	var status int
	var api smithy.APIError
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return code, status
}

// isNotFound reports a missing object: NoSuchKey, or a 404 that is not
// about the bucket; 403 counts too, as Nix treats it (the caller may lack
// s3:ListBucket, without which S3 answers a missing key with 403).
func isNotFound(err error) bool {
	code, status := s3Code(err)
	if code == "NoSuchBucket" {
		return false
	}
	if status == 403 && sdkServerError(err).aboutCredentials() {
		return false // wrong credentials, not a missing key
	}
	return code == "NoSuchKey" || code == "NotFound" || status == 404 || status == 403 && (code == "AccessDenied" || code == "Forbidden")
}

// explain turns an S3 error into one that says what to do. key is "" for
// bucket operations.
func (t *s3Target) explain(err error, key string) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	op := "request"
	var oe *smithy.OperationError
	if errors.As(err, &oe) {
		op = oe.OperationName
	}
	resource := "arn:aws:s3:::" + t.bucket
	if key != "" {
		resource += "/" + key
	}
	if m := schemeMistake(t.desc, "add scheme=http to the store URL", err); m != nil {
		return m
	}
	code, status := s3Code(err)
	if status == 400 && (code == "" || code == "BadRequest") && speaksTLS(context.Background(), t.params.Endpoint) {
		return fmt.Errorf("%s speaks HTTPS, not plain HTTP: remove scheme=http from the store URL (https is the default) (%s %d %s)", t.desc, op, status, code)
	}
	switch {
	case badCredentialCodes[code]:
		return &Failure{Kind: BadCredentials, Err: err, Msg: fmt.Sprintf(
			"%s refused the access key %s %s: the key is unknown or disabled there, or its secret is wrong (%s %s); check aws_access_key_id and aws_secret_access_key (or the clock, if both are right)",
			t.desc, t.keyID, t.credSource(), op, code)}
	case code == "AccessDenied" || code == "Forbidden" || status == 403 && code == "":
		action := s3Action[op]
		if action == "" {
			action = "s3:" + op
		}
		if e := sdkServerError(err); e.aboutCredentials() {
			return &Failure{Kind: BadCredentials, Err: err, Msg: fmt.Sprintf(
				"%s refused the access key %s %s (%s: %s); check aws_access_key_id and aws_secret_access_key",
				t.desc, t.keyID, t.credSource(), op, e.message)}
		}
		return &Failure{Kind: Denied, Err: err, Msg: fmt.Sprintf(
			"access denied: %s on %s for the access key %s %s: grant %s in the user's IAM policy or the bucket policy",
			action, resource, t.keyID, t.credSource(), action)}
	case code == "NoSuchBucket":
		return &Failure{Kind: NoBucket, Err: err, Msg: fmt.Sprintf(
			"the bucket %q does not exist (%s): create it first (nixbucket bucket create %s, or aws s3 mb s3://%s), or check the bucket name, region= and endpoint=",
			t.bucket, t.desc, t.bucket, t.bucket)}
	case code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed" || status == 301:
		region := "REGION"
		if m := expectingRegion.FindStringSubmatch(sdkServerError(err).message); m != nil {
			region = m[1] // "the region 'us-east-1' is wrong; expecting 'eu-west-2'", AWS's words and nixbucket's
		}
		return fmt.Errorf("the bucket %q is in another region than %s: add region=%s to the store URL: %w", t.bucket, t.region, region, err)
	case code == "RequestTimeTooSkewed":
		return fmt.Errorf("the clock is off by more than 15 minutes from %s's: fix the time: %w", t.desc, err)
	}
	var dns *net.DNSError
	var op2 *net.OpError
	if errors.As(err, &dns) || errors.As(err, &op2) {
		return fmt.Errorf("cannot reach %s: check endpoint= and scheme= (and the network): %w", t.desc, err)
	}
	return err
}

// credSource says where the credentials were read from, for messages.
func (t *s3Target) credSource() string {
	if t.credSrc == "" {
		return "in the credential chain"
	}
	return "(from " + t.credSrc + ")"
}

// explainConfig explains a failure to load the shared configuration.
func explainConfig(err error, profile string) error {
	var pe config.SharedConfigProfileNotExistError
	if errors.As(err, &pe) {
		files := strings.Join(pe.Filename, " or ")
		if files == "" {
			files = envOr("AWS_CONFIG_FILE", "~/.aws/config") + " or " + envOr("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")
		}
		name, from := profile, ""
		if name == "" { // not the store URL's: AWS_PROFILE's
			name, from = cmp.Or(pe.Profile, os.Getenv("AWS_PROFILE")), " (from AWS_PROFILE)"
		}
		return fmt.Errorf("the AWS profile %q%s is not in %s; add a [profile %s] section to the config file or a [%s] section to the credentials file (or set AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE)", name, from, files, name, name)
	}
	return fmt.Errorf("loading the AWS configuration: %w", err)
}

// explainCredentials explains a failure to find credentials, naming every
// source the default chain tried.
func explainCredentials(err error, profile string) error {
	files := fmt.Sprintf("%s and %s", envOr("AWS_CONFIG_FILE", "~/.aws/config"), envOr("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"))
	p := profile
	if p == "" {
		p = envOr("AWS_PROFILE", "default")
	}
	return &Failure{Kind: NoCredentials, Err: err, Msg: fmt.Sprintf("no AWS credentials: tried the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), "+
		"the profile %q in %s (static keys, SSO, credential_process, assume-role), web identity (AWS_WEB_IDENTITY_TOKEN_FILE), "+
		"and container and EC2 instance metadata; set the variables, or add the keys to the profile (or profile=NAME to the store URL)", p, files)}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// describeCreds says where resolved credentials came from.
func describeCreds(c aws.Credentials, profile string) string {
	src := c.Source
	p := profile
	if p == "" {
		p = envOr("AWS_PROFILE", "default")
	}
	switch {
	case src == "EnvConfigCredentials":
		return "the environment"
	case strings.HasPrefix(src, "SharedConfigCredentials"):
		// The SDK names the file the keys came from: credentials or config.
		file := strings.TrimSpace(strings.TrimPrefix(src, "SharedConfigCredentials:"))
		if file == "" {
			file = envOr("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")
		}
		return fmt.Sprintf("profile %q in %s", p, file)
	case src == "ProcessProvider":
		return fmt.Sprintf("the credential_process of profile %q", p)
	case src != "":
		return src
	}
	return ""
}

// sdkServerError is the code and message of an SDK error, for
// classification; the message is the server's, without markup.
func sdkServerError(err error) serverError {
	code, status := s3Code(err)
	e := serverError{status: status, code: code}
	var api smithy.APIError
	if errors.As(err, &api) {
		e.message = oneLine(api.ErrorMessage())
	}
	return e
}
