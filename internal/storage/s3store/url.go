package s3store

import (
	"fmt"
	"net/url"
	"strings"
)

// Config says where the blobs live. ParseURL fills it from a blob-store URL.
type Config struct {
	Bucket string // must exist
	Prefix string // key prefix inside the bucket, "" or ending in "/"
	// Endpoint is the store's base URL (scheme://host[:port]); empty for AWS.
	Endpoint string
	Region   string // default us-east-1
	Profile  string // shared-config profile; empty: the default chain
	// PathStyle addresses the bucket in the path rather than the host
	// name; the default with a custom endpoint.
	PathStyle bool
	// PartSize is the size of a multipart upload's parts and so of each
	// writer's buffers; zero means DefaultPartSize.
	PartSize int64
	// PartsInFlight is how many parts of one blob are sent at once; zero
	// means DefaultPartsInFlight.
	PartsInFlight int
}

// ParseURL parses s3://BUCKET[/PREFIX][?endpoint=…&region=…&profile=…
// &scheme=http|https&addressing-style=auto|path|virtual]. An endpoint
// without a scheme gets scheme's (https by default).
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Config{}, fmt.Errorf("blob store URL: %w", err)
	}
	if u.Scheme != "s3" {
		return Config{}, fmt.Errorf("blob store URL %q: want s3://BUCKET/PREFIX?endpoint=…", raw)
	}
	if u.Host == "" {
		return Config{}, fmt.Errorf("blob store URL %q: no bucket", raw)
	}
	c := Config{Bucket: u.Host, Region: "us-east-1"}
	if p := strings.Trim(u.Path, "/"); p != "" {
		c.Prefix = p + "/"
	}
	scheme, style := "https", "auto"
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "endpoint":
			c.Endpoint = v
		case "region":
			c.Region = v
		case "profile":
			c.Profile = v
		case "scheme":
			if v != "http" && v != "https" {
				return Config{}, fmt.Errorf("blob store URL: scheme=%q: want http or https", v)
			}
			scheme = v
		case "addressing-style":
			if v != "auto" && v != "path" && v != "virtual" {
				return Config{}, fmt.Errorf("blob store URL: addressing-style=%q: want auto, path or virtual", v)
			}
			style = v
		default:
			return Config{}, fmt.Errorf("blob store URL: unknown parameter %q (known: endpoint, region, profile, scheme, addressing-style)", k)
		}
	}
	if c.Endpoint != "" && !strings.Contains(c.Endpoint, "://") {
		c.Endpoint = scheme + "://" + c.Endpoint
	}
	c.PathStyle = style == "path" || (style == "auto" && c.Endpoint != "")
	return c, nil
}

// where names the store in messages: "s3://BUCKET/PREFIX at ENDPOINT".
func (c Config) where() string {
	ep := c.Endpoint
	if ep == "" {
		ep = "AWS " + c.Region
	}
	return fmt.Sprintf("s3://%s/%s at %s", c.Bucket, c.Prefix, ep)
}

// SameStore reports whether two blob store URLs name the same place, a
// bucket's prefix at one endpoint, however they are spelled (parameter
// order, slashes, a scheme given apart); a URL that does not parse names
// nothing.
func SameStore(a, b string) bool {
	ca, err := ParseURL(a)
	if err != nil {
		return false
	}
	cb, err := ParseURL(b)
	if err != nil {
		return false
	}
	return ca.Bucket == cb.Bucket && ca.Prefix == cb.Prefix &&
		strings.TrimSuffix(ca.Endpoint, "/") == strings.TrimSuffix(cb.Endpoint, "/")
}
