package policy

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// family is the type a condition operator compares.
type family uint8

const (
	famString family = iota
	famNumeric
	famDate
	famBool
	famIP
	famARN
	famNull
)

// cmp is the positive comparison of an operator; negated operators
// (StringNotEquals, NotIpAddress, ...) invert its result.
type cmp uint8

const (
	cmpEquals cmp = iota
	cmpEqualsFold
	cmpLike
	cmpLess
	cmpLessEq
	cmpGreater
	cmpGreaterEq
)

// setOp is the ForAnyValue: / ForAllValues: qualifier.
type setOp uint8

const (
	setNone setOp = iota
	setAnyValue
	setAllValues
)

type operator struct {
	fam    family
	cmp    cmp
	negate bool
}

// operators maps lower-cased operator names (without IfExists and set
// qualifiers) to their meaning. AWS documents ArnEquals and ArnLike as the
// same comparison, wildcards included.
var operators = map[string]operator{
	"stringequals":              {famString, cmpEquals, false},
	"stringnotequals":           {famString, cmpEquals, true},
	"stringequalsignorecase":    {famString, cmpEqualsFold, false},
	"stringnotequalsignorecase": {famString, cmpEqualsFold, true},
	"stringlike":                {famString, cmpLike, false},
	"stringnotlike":             {famString, cmpLike, true},
	"numericequals":             {famNumeric, cmpEquals, false},
	"numericnotequals":          {famNumeric, cmpEquals, true},
	"numericlessthan":           {famNumeric, cmpLess, false},
	"numericlessthanequals":     {famNumeric, cmpLessEq, false},
	"numericgreaterthan":        {famNumeric, cmpGreater, false},
	"numericgreaterthanequals":  {famNumeric, cmpGreaterEq, false},
	"dateequals":                {famDate, cmpEquals, false},
	"datenotequals":             {famDate, cmpEquals, true},
	"datelessthan":              {famDate, cmpLess, false},
	"datelessthanequals":        {famDate, cmpLessEq, false},
	"dategreaterthan":           {famDate, cmpGreater, false},
	"dategreaterthanequals":     {famDate, cmpGreaterEq, false},
	"bool":                      {famBool, cmpEquals, false},
	"ipaddress":                 {famIP, cmpEquals, false},
	"notipaddress":              {famIP, cmpEquals, true},
	"arnequals":                 {famARN, cmpLike, false},
	"arnlike":                   {famARN, cmpLike, false},
	"arnnotequals":              {famARN, cmpLike, true},
	"arnnotlike":                {famARN, cmpLike, true},
	"null":                      {famNull, cmpEquals, false},
}

// condition is one (operator, key) pair of a Condition block with its
// values. Only the slice for the operator's family is set.
type condition struct {
	operator
	ifExists bool
	set      setOp
	key      keyID
	strs     []pattern      // famString
	arns     []arnPattern   // famARN
	nums     []float64      // famNumeric
	dates    []time.Time    // famDate
	nets     []netip.Prefix // famIP
	bools    []bool         // famBool; famNull ("true" = must be absent)
}

// parseOperator splits "ForAnyValue:StringLikeIfExists" into its parts.
func parseOperator(name string) (op operator, set setOp, ifExists bool, err error) {
	l := strings.ToLower(name)
	if rest, ok := strings.CutPrefix(l, "foranyvalue:"); ok {
		l, set = rest, setAnyValue
	} else if rest, ok := strings.CutPrefix(l, "forallvalues:"); ok {
		l, set = rest, setAllValues
	}
	op, ok := operators[l]
	if !ok {
		if base, cut := strings.CutSuffix(l, "ifexists"); cut {
			op, ok = operators[base]
			ifExists = ok && op.fam != famNull
			ok = ifExists
		}
	}
	if !ok {
		return op, set, false, errors.New("unknown condition operator")
	}
	return op, set, ifExists, nil
}

// newCondition compiles the values of one key under one operator.
func newCondition(op operator, set setOp, ifExists bool, key keyID, values []string, vars bool) (condition, error) {
	c := condition{operator: op, set: set, ifExists: ifExists, key: key}
	for _, v := range values {
		switch op.fam {
		case famString:
			p, err := compilePattern(v, compileOptions{wildcards: op.cmp == cmpLike, variables: vars})
			if err != nil {
				return c, err
			}
			c.strs = append(c.strs, p)
		case famARN:
			a, err := compileARNPattern(v, compileOptions{wildcards: true, variables: vars})
			if err != nil {
				return c, err
			}
			c.arns = append(c.arns, a)
		case famNumeric:
			n, ok := parseNumber(v)
			if !ok {
				return c, fmt.Errorf("invalid number %q", v)
			}
			c.nums = append(c.nums, n)
		case famDate:
			t, ok := parseDate(v)
			if !ok {
				return c, fmt.Errorf("invalid date %q (want ISO 8601, such as 2026-01-02T15:04:05Z, or epoch seconds)", v)
			}
			c.dates = append(c.dates, t)
		case famIP:
			p, err := parsePrefix(v)
			if err != nil {
				return c, err
			}
			c.nets = append(c.nets, p)
		case famBool, famNull:
			b, ok := parseBool(v)
			if !ok {
				return c, fmt.Errorf("invalid boolean %q (want \"true\" or \"false\")", v)
			}
			c.bools = append(c.bools, b)
		}
	}
	return c, nil
}

// eval reports whether the condition holds for r. The rules, from the IAM
// User Guide ("IAM JSON policy elements: Condition operators" and
// "Conditions with multiple context keys or values"):
//
//   - "If the key that you specify in a policy condition is not present in
//     the request context, the values do not match and the condition is
//     false. If the policy condition requires that the key is not matched,
//     such as StringNotLike or ArnNotLike, and the right key is not present,
//     the condition is true. This logic applies to all condition operators
//     except ...IfExists and Null check." IfExists is true when the key is
//     absent; Null tests presence itself.
//   - Several values for one key are ORed; under a negated operator they
//     are NORed (the value must match none of them).
//   - "The ForAllValues set operator also returns true if there are no
//     context keys in the request"; ForAnyValue returns false then. Every
//     key nixbucket supplies is single-valued, so once present the set
//     qualifiers act on a one-element set and change nothing else. The
//     qualifier, not IfExists, decides the absent case.
func (c *condition) eval(r *Request) bool {
	present := r.present(c.key)
	if c.fam == famNull {
		for _, wantAbsent := range c.bools {
			if wantAbsent != present {
				return true
			}
		}
		return false
	}
	if !present {
		switch {
		case c.set == setAllValues:
			return true
		case c.set == setAnyValue:
			return false
		case c.ifExists:
			return true
		}
		return c.negate
	}
	return c.matches(r) != c.negate
}

// matches reports whether the present context value matches any policy
// value under the operator's positive comparison.
func (c *condition) matches(r *Request) bool {
	switch c.fam {
	case famString:
		v, _ := r.str(c.key)
		fold := c.cmp == cmpEqualsFold
		for i := range c.strs {
			if c.strs[i].match(v, r, fold) {
				return true
			}
		}
	case famARN:
		v, _ := r.str(c.key)
		for i := range c.arns {
			if c.arns[i].match(v, r) {
				return true
			}
		}
	case famNumeric:
		v, ok := r.num(c.key)
		if !ok {
			return false
		}
		for _, n := range c.nums {
			if compare(c.cmp, cmpFloat(v, n)) {
				return true
			}
		}
	case famDate:
		v, ok := r.date(c.key)
		if !ok {
			return false
		}
		for _, d := range c.dates {
			if compare(c.cmp, v.Compare(d)) {
				return true
			}
		}
	case famBool:
		v, ok := r.boolean(c.key)
		if !ok {
			return false
		}
		for _, b := range c.bools {
			if v == b {
				return true
			}
		}
	case famIP:
		a, ok := r.addr(c.key)
		if !ok {
			return false
		}
		for _, p := range c.nets {
			if p.Contains(a) {
				return true
			}
		}
	}
	return false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compare applies an ordered comparison to the sign of request - policy.
func compare(c cmp, sign int) bool {
	switch c {
	case cmpLess:
		return sign < 0
	case cmpLessEq:
		return sign <= 0
	case cmpGreater:
		return sign > 0
	case cmpGreaterEq:
		return sign >= 0
	}
	return sign == 0
}

// parseNumber accepts decimal integers and decimals with an optional sign
// and exponent (no hex, no NaN or infinities).
func parseNumber(s string) (float64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c == '.', c == '-', c == '+', c == 'e', c == 'E':
		default:
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// dateLayouts are the ISO 8601 forms accepted besides epoch seconds. A form
// without a zone is UTC. RFC 3339 parsing also accepts fractional seconds.
var dateLayouts = []string{
	time.RFC3339,
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04:05",
	"2006-01-02",
	"20060102T150405Z0700",
}

// parseDate accepts the date forms AWS accepts for the Date operators:
// ISO 8601 and epoch seconds.
func parseDate(s string) (time.Time, bool) {
	if digits := strings.TrimPrefix(s, "-"); digits != "" && strings.Trim(digits, "0123456789") == "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		return time.Unix(n, 0).UTC(), true
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// parsePrefix accepts a CIDR block or a bare IPv4 or IPv6 address (a
// single-address block).
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR block %q", s)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("invalid IP address %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func parseBool(s string) (v, ok bool) {
	switch {
	case strings.EqualFold(s, "true"):
		return true, true
	case strings.EqualFold(s, "false"):
		return false, true
	}
	return false, false
}
