package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nixbucket/nixbucket/internal/suggest"
)

// MaxSize is the largest document the parsers accept: S3's limit for a
// bucket policy, 20 KB.
const MaxSize = 20 << 10

// Error is a document that failed validation. Its message names the
// statement (numbered from 1, with its Sid when it has one) and the field,
// for example
//
//	statement 2 ("AllowRead"): Effect: must be "Allow" or "Deny"
//
// and is meant to be shown to the user as S3's MalformedPolicy message.
type Error struct {
	Statement int    // 1-based; 0 for problems outside any statement
	Sid       string // the statement's Sid, if any
	Field     string // the element at fault, such as "Condition: Bool: aws:SecureTransport"
	Reason    string
	Err       error // the underlying JSON error, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Statement > 0 {
		fmt.Fprintf(&b, "statement %d", e.Statement)
		if e.Sid != "" {
			fmt.Fprintf(&b, " (%q)", e.Sid)
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ParseBucket parses and validates a bucket policy: every statement needs a
// Principal or NotPrincipal, and its actions and resources must be S3 ones.
func ParseBucket(doc []byte) (*Policy, error) { return parse(doc, bucketPolicy) }

// ParseIdentity parses and validates an identity policy (a user's or a
// token's), in which Principal and NotPrincipal are not allowed.
func ParseIdentity(doc []byte) (*Policy, error) { return parse(doc, identityPolicy) }

// position is the line and column (1-based, in bytes) of the last byte
// but white space of doc[:offset], where a json.SyntaxError found the
// mistake.
func position(doc []byte, offset int64) (line, col int) {
	before := bytes.TrimRight(doc[:min(max(offset, 0), int64(len(doc)))], " \t\r\n")
	line = 1 + bytes.Count(before, []byte("\n"))
	col = max(len(before)-bytes.LastIndexByte(before, '\n')-1, 1)
	return line, col
}

func parse(doc []byte, k kind) (*Policy, error) {
	if len(doc) > MaxSize {
		return nil, &Error{Reason: fmt.Sprintf("policy is larger than %d bytes", MaxSize)}
	}
	if !json.Valid(doc) {
		var v any
		err := json.Unmarshal(doc, &v)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		where := ""
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := position(doc, se.Offset)
			where = fmt.Sprintf(" at line %d, column %d", line, col)
		}
		return nil, &Error{Reason: "invalid JSON" + where + ": " + err.Error(), Err: err}
	}
	ms, err := decodeObject(doc)
	if err != nil {
		return nil, &Error{Reason: "policy " + err.Error()}
	}
	p := &Policy{kind: k}
	var stmts json.RawMessage
	for _, m := range ms {
		switch m.name {
		case "Version":
			v, ok := jsonString(m.raw)
			if !ok || v != "2012-10-17" && v != "2008-10-17" {
				return nil, &Error{Field: "Version", Reason: `must be "2012-10-17" or "2008-10-17"`}
			}
			p.version = v
		case "Id":
			if _, ok := jsonString(m.raw); !ok {
				return nil, &Error{Field: "Id", Reason: "must be a string"}
			}
		case "Statement":
			stmts = m.raw
		default:
			return nil, &Error{Field: m.name, Reason: unknownElement(m.name, policyElements)}
		}
	}
	if stmts == nil {
		return nil, &Error{Field: "Statement", Reason: "missing"}
	}
	var raws []json.RawMessage
	switch firstByte(stmts) {
	case '{':
		raws = []json.RawMessage{stmts}
	case '[':
		if err := json.Unmarshal(stmts, &raws); err != nil {
			return nil, &Error{Field: "Statement", Reason: "must be an object or an array of objects", Err: err}
		}
	default:
		return nil, &Error{Field: "Statement", Reason: "must be an object or an array of objects"}
	}
	if len(raws) == 0 {
		return nil, &Error{Field: "Statement", Reason: "must contain at least one statement"}
	}
	// IAM User Guide, policy variables: "Policy variables were introduced
	// in version 2012-10-17, so earlier versions of the policy language
	// don't support policy variables"; there they are literal text.
	vars := p.version == "2012-10-17"
	for i, raw := range raws {
		s, err := parseStatement(i+1, raw, k, vars)
		if err != nil {
			return nil, err
		}
		p.stmts = append(p.stmts, s)
		p.needsContext = p.needsContext || s.readsContext()
	}
	return p, nil
}

// readsContext reports whether evaluating s may read the request's
// Context: it has conditions or policy variables.
func (s *statement) readsContext() bool {
	if len(s.conds) > 0 {
		return true
	}
	for _, ps := range [][]pattern{s.actions, s.resources} {
		for _, p := range ps {
			for _, g := range p.segs {
				if g.kind == segVar {
					return true
				}
			}
		}
	}
	return false
}

func parseStatement(n int, raw json.RawMessage, k kind, vars bool) (statement, error) {
	var s statement
	ms, err := decodeObject(raw)
	if err != nil {
		return s, &Error{Statement: n, Reason: "statement " + err.Error()}
	}
	for _, m := range ms {
		if m.name == "Sid" {
			sid, ok := jsonString(m.raw)
			if !ok {
				return s, &Error{Statement: n, Field: "Sid", Reason: "must be a string"}
			}
			s.sid = sid
		}
	}
	fail := func(field, reason string) error {
		return &Error{Statement: n, Sid: s.sid, Field: field, Reason: reason}
	}
	var hasEffect, hasAction, hasResource, hasPrincipal bool
	for _, m := range ms {
		switch m.name {
		case "Sid":
		case "Effect":
			switch v, _ := jsonString(m.raw); v {
			case "Allow":
			case "Deny":
				s.deny = true
			default:
				return s, fail("Effect", `must be "Allow" or "Deny"`)
			}
			hasEffect = true
		case "Action", "NotAction":
			if hasAction {
				return s, fail(m.name, "a statement takes Action or NotAction, not both")
			}
			hasAction, s.notAction = true, m.name == "NotAction"
			vals, err := stringList(m.raw)
			if err != nil {
				return s, fail(m.name, err.Error())
			}
			for _, v := range vals {
				p, err := compileAction(v, k)
				if err != nil {
					return s, fail(m.name, err.Error())
				}
				s.actions = append(s.actions, p)
			}
		case "Resource", "NotResource":
			if hasResource {
				return s, fail(m.name, "a statement takes Resource or NotResource, not both")
			}
			hasResource, s.notResource = true, m.name == "NotResource"
			vals, err := stringList(m.raw)
			if err != nil {
				return s, fail(m.name, err.Error())
			}
			for _, v := range vals {
				p, err := compileResource(v, k, vars)
				if err != nil {
					return s, fail(m.name, err.Error())
				}
				s.resources = append(s.resources, p)
			}
		case "Principal", "NotPrincipal":
			if k == identityPolicy {
				return s, fail(m.name, "not allowed in an identity policy")
			}
			if hasPrincipal {
				return s, fail(m.name, "a statement takes Principal or NotPrincipal, not both")
			}
			hasPrincipal, s.notPrincipal = true, m.name == "NotPrincipal"
			ps, err := parsePrincipals(m.raw)
			if err != nil {
				return s, fail(m.name, err.Error())
			}
			s.principals = ps
		case "Condition":
			conds, err := parseConditions(m.raw, vars, fail)
			if err != nil {
				return s, err
			}
			s.conds = conds
		default:
			return s, fail(m.name, unknownElement(m.name, statementElements))
		}
	}
	switch {
	case !hasEffect:
		return s, fail("Effect", "missing")
	case !hasAction:
		return s, fail("Action", "missing (a statement needs Action or NotAction)")
	case !hasResource:
		return s, fail("Resource", "missing (a statement needs Resource or NotResource)")
	case k == bucketPolicy && !hasPrincipal:
		return s, fail("Principal", "missing (a bucket policy statement needs Principal or NotPrincipal)")
	case s.notPrincipal && !s.deny:
		// IAM User Guide, NotPrincipal: "NotPrincipal must be used with
		// "Effect":"Deny". Using it with "Effect":"Allow" is not supported."
		return s, fail("NotPrincipal", `is only supported with "Effect": "Deny"`)
	}
	return s, nil
}

// CheckBucket returns an *Error naming the first Resource entry of p that
// can match neither the ARN of bucket nor that of any object in it. S3
// refuses such a bucket policy ("Policy has invalid resource"), so the
// server calls this before storing one. Policy variables count as '*'.
func (p *Policy) CheckBucket(bucket string) error {
	exact := BucketARN(bucket)
	for i := range p.stmts {
		s := &p.stmts[i]
		if s.notResource {
			continue
		}
		for j := range s.resources {
			if !s.resources[j].mayMatchUnder(exact, exact+"/") {
				return &Error{Statement: i + 1, Sid: s.sid, Field: "Resource",
					Reason: fmt.Sprintf("%q is not bucket %q or an object in it", s.resources[j].raw, bucket)}
			}
		}
	}
	return nil
}

// compileAction validates "*" or "service:action" (wildcards allowed).
func compileAction(a string, k kind) (pattern, error) {
	if a == "*" {
		return pattern{shape: shapeAny, raw: a}, nil
	}
	svc, name, ok := strings.Cut(a, ":")
	if !ok || !actionChars(svc) || !actionChars(name) {
		return pattern{}, fmt.Errorf("invalid action %q: want \"*\" or \"service:action\"", a)
	}
	if k == bucketPolicy {
		sp, _ := compilePattern(svc, compileOptions{wildcards: true})
		if !sp.match("s3", nil, true) {
			return pattern{}, fmt.Errorf("action %q is not an S3 action", a)
		}
	}
	return compilePattern(a, compileOptions{wildcards: true})
}

func actionChars(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '*', c == '?', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// compileResource validates "*" or a six-component ARN.
func compileResource(res string, k kind, vars bool) (pattern, error) {
	if res == "*" {
		return pattern{shape: shapeAny, raw: res}, nil
	}
	parts := splitARN(res, vars)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || parts[2] == "" {
		return pattern{}, fmt.Errorf("invalid resource %q: want \"*\" or an ARN such as arn:aws:s3:::BUCKET/KEY", res)
	}
	if k == bucketPolicy {
		sp, _ := compilePattern(parts[2], compileOptions{wildcards: true})
		if !sp.match("s3", nil, false) {
			return pattern{}, fmt.Errorf("resource %q is not an S3 resource", res)
		}
	}
	return compilePattern(res, compileOptions{wildcards: true, variables: vars})
}

// parsePrincipals reads "*" or an object such as {"AWS": [...]}.
func parsePrincipals(raw json.RawMessage) (principals, error) {
	var ps principals
	switch firstByte(raw) {
	case '"':
		if v, _ := jsonString(raw); v == "*" {
			ps.anyone = true
			return ps, nil
		}
	case '{':
		ms, err := decodeObject(raw)
		if err != nil {
			return ps, err
		}
		if len(ms) == 0 {
			return ps, errors.New("must name at least one principal")
		}
		for _, m := range ms {
			vals, err := stringList(m.raw)
			if err != nil {
				return ps, fmt.Errorf("%s: %w", m.name, err)
			}
			switch m.name {
			case "AWS":
				for _, v := range vals {
					if err := ps.addAWS(v); err != nil {
						return ps, err
					}
				}
			case "CanonicalUser", "Service", "Federated":
				// Valid in AWS, but nixbucket has no such principals:
				// these entries never match anyone.
				for _, v := range vals {
					if v == "" {
						return ps, fmt.Errorf("%s: empty principal", m.name)
					}
				}
			default:
				return ps, fmt.Errorf("unknown principal type %q (want \"AWS\")", m.name)
			}
		}
		return ps, nil
	}
	return ps, errors.New(`must be "*" or an object such as {"AWS": "arn:aws:iam::000000000000:user/NAME"}`)
}

// addAWS adds one "AWS" principal: "*", an account id, an account root ARN,
// or a user, role or session ARN. AWS allows no other wildcard here.
func (ps *principals) addAWS(v string) error {
	switch {
	case v == "*":
		ps.anyone = true
		return nil
	case isAccountID(v):
		ps.accounts = append(ps.accounts, v)
		return nil
	}
	parts := strings.SplitN(v, ":", 6)
	if len(parts) == 6 && parts[0] == "arn" && parts[1] != "" && parts[3] == "" &&
		isAccountID(parts[4]) && parts[5] != "" && !strings.ContainsAny(v, "*?") {
		switch {
		case parts[2] == "iam" && parts[5] == "root":
			ps.accounts = append(ps.accounts, parts[4])
			return nil
		case parts[2] == "iam" || parts[2] == "sts":
			ps.arns = append(ps.arns, v)
			return nil
		}
	}
	return fmt.Errorf("invalid principal %q: want \"*\", an account id, or an IAM ARN such as arn:aws:iam::000000000000:user/NAME", v)
}

func isAccountID(s string) bool {
	return len(s) == 12 && strings.Trim(s, "0123456789") == ""
}

// parseConditions reads {"Operator": {"key": value-or-values, ...}, ...}.
func parseConditions(raw json.RawMessage, vars bool, fail func(field, reason string) error) ([]condition, error) {
	ops, err := decodeObject(raw)
	if err != nil {
		return nil, fail("Condition", err.Error())
	}
	var conds []condition
	for _, o := range ops {
		field := "Condition: " + o.name
		op, set, ifExists, err := parseOperator(o.name)
		if err != nil {
			return nil, fail(field, err.Error())
		}
		keys, err := decodeObject(o.raw)
		if err != nil {
			return nil, fail(field, err.Error()+", mapping condition keys to values")
		}
		if len(keys) == 0 {
			return nil, fail(field, "must name at least one condition key")
		}
		for _, kv := range keys {
			field := field + ": " + kv.name
			id, ok := lookupKey(kv.name)
			if !ok {
				return nil, fail(field, "unknown condition key")
			}
			vals, err := conditionValues(kv.raw)
			if err != nil {
				return nil, fail(field, err.Error())
			}
			c, err := newCondition(op, set, ifExists, id, vals, vars)
			if err != nil {
				return nil, fail(field, err.Error())
			}
			conds = append(conds, c)
		}
	}
	return conds, nil
}

// The elements of a policy and of a statement, as AWS spells them.
var (
	policyElements    = []string{"Version", "Id", "Statement"}
	statementElements = []string{"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal", "NotPrincipal", "Condition"}
)

// unknownElement is the reason an element named name is refused, with the
// one of known that was meant, if one is near.
func unknownElement(name string, known []string) string {
	msg := "unknown element (names are case-sensitive)"
	if near := suggest.Nearest(name, known); near != "" {
		msg += fmt.Sprintf("; did you mean %q?", near)
	}
	return msg
}
