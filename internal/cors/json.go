package cors

import (
	"bytes"
	"encoding/json"
)

// The aws CLI's shape of a configuration (put-bucket-cors
// --cors-configuration, get-bucket-cors), which the admin CLI reads and
// prints too.
type jsonConfig struct {
	CORSRules []jsonRule
}

type jsonRule struct {
	ID             string   `json:",omitempty"`
	AllowedHeaders []string `json:",omitempty"`
	AllowedMethods []string
	AllowedOrigins []string
	ExposeHeaders  []string `json:",omitempty"`
	MaxAgeSeconds  *int     `json:",omitempty"`
}

// ParseAny reads a configuration as S3's XML or as the aws CLI's JSON
// ({"CORSRules": [...]}), whichever doc is, and checks it as Parse does.
func ParseAny(doc []byte) (*Config, error) {
	if t := bytes.TrimSpace(doc); len(t) == 0 || t[0] != '{' {
		return Parse(doc)
	}
	if len(doc) > MaxSize {
		return nil, &Error{Code: "MaxMessageLengthExceeded", Message: "Your request was too big."}
	}
	var j jsonConfig
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, &Error{Code: "MalformedXML", Message: "not a CORS configuration: " + err.Error()}
	}
	c := &Config{}
	for _, r := range j.CORSRules {
		c.Rules = append(c.Rules, Rule(r))
	}
	if err := c.check(); err != nil { // the limits and messages of the XML
		return nil, err
	}
	return c, nil
}

// JSON is the configuration in the aws CLI's shape, indented.
func (c *Config) JSON() []byte {
	j := jsonConfig{CORSRules: []jsonRule{}}
	for _, r := range c.Rules {
		j.CORSRules = append(j.CORSRules, jsonRule(r))
	}
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		panic(err) // the types above always encode
	}
	return append(b, '\n')
}

// Public is the configuration that lets a page on any origin read a
// bucket the policies let anyone read (GET and HEAD, the ETag and length
// shown to the page, preflights cached an hour).
func Public() *Config {
	hour := 3600
	return &Config{Rules: []Rule{{
		ID:             "public-read",
		AllowedMethods: []string{"GET", "HEAD"},
		AllowedOrigins: []string{"*"},
		ExposeHeaders:  []string{"ETag", "Content-Length"},
		MaxAgeSeconds:  &hour,
	}}}
}
