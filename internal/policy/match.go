package policy

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// segKind is the kind of one piece of a compiled pattern.
type segKind uint8

const (
	segLit  segKind = iota // literal text
	segOne                 // '?': exactly one character
	segStar                // '*': any run of characters, '/' and ':' included
	segVar                 // ${key} or ${key, 'default'}: the key's value, literally
)

// seg is one piece of a pattern.
type seg struct {
	kind   segKind
	key    keyID  // segVar
	hasDef bool   // segVar: a default was given
	lit    string // segLit text; segVar default
}

// shape lets the common patterns skip the general matcher.
type shape uint8

const (
	shapeGlob   shape = iota // anything else: walk segs
	shapeAny                 // "*"
	shapeExact               // literal text only
	shapePrefix              // literal text then one trailing '*'
)

// pattern is a compiled Action, Resource or String/Arn condition value.
type pattern struct {
	raw   string // as written, for messages
	shape shape
	lit   string // shapeExact, shapePrefix
	segs  []seg  // shapeGlob
}

// compileOptions says how to read a pattern's text.
type compileOptions struct {
	wildcards bool // '*' and '?' are wildcards (else literal)
	variables bool // ${...} are policy variables (Version 2012-10-17 only)
}

// compilePattern compiles raw. Policy variables follow AWS: ${key} is the
// value of a condition key, ${key, 'default'} falls back to default when the
// key is absent (a doubled single quote inside the quotes is one quote), and
// ${*}, ${?}, ${$} are a literal '*', '?' and '$'. A variable ends at the
// first '}', so a default cannot contain one.
func compilePattern(raw string, o compileOptions) (pattern, error) {
	var segs []seg
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			segs = append(segs, seg{kind: segLit, lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case o.wildcards && c == '*':
			flush()
			if n := len(segs); n == 0 || segs[n-1].kind != segStar {
				segs = append(segs, seg{kind: segStar})
			}
		case o.wildcards && c == '?':
			flush()
			segs = append(segs, seg{kind: segOne})
		case o.variables && c == '$' && i+1 < len(raw) && raw[i+1] == '{':
			end := strings.IndexByte(raw[i:], '}')
			if end < 0 {
				return pattern{}, fmt.Errorf("unterminated policy variable in %q", raw)
			}
			body := raw[i+2 : i+end]
			i += end
			switch body {
			case "*", "?", "$":
				lit.WriteString(body)
				continue
			}
			v, err := parseVariable(body)
			if err != nil {
				return pattern{}, fmt.Errorf("policy variable ${%s}: %w", body, err)
			}
			flush()
			segs = append(segs, v)
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	p := shapeOf(segs)
	p.raw = raw
	return p, nil
}

// parseVariable parses the inside of ${...}.
func parseVariable(body string) (seg, error) {
	name, def, hasDef := strings.Cut(body, ",")
	name = strings.TrimSpace(name)
	id, ok := lookupKey(name)
	if !ok {
		return seg{}, fmt.Errorf("unknown condition key %q", name)
	}
	s := seg{kind: segVar, key: id}
	if hasDef {
		def = strings.TrimSpace(def)
		if len(def) < 2 || def[0] != '\'' || def[len(def)-1] != '\'' {
			return seg{}, errors.New("default value must be in single quotes")
		}
		inner := def[1 : len(def)-1]
		if strings.Contains(strings.ReplaceAll(inner, "''", ""), "'") {
			return seg{}, errors.New("a quote inside the default value must be doubled")
		}
		s.hasDef, s.lit = true, strings.ReplaceAll(inner, "''", "'")
	}
	return s, nil
}

func shapeOf(segs []seg) pattern {
	switch {
	case len(segs) == 0:
		return pattern{shape: shapeExact}
	case len(segs) == 1 && segs[0].kind == segStar:
		return pattern{shape: shapeAny}
	case len(segs) == 1 && segs[0].kind == segLit:
		return pattern{shape: shapeExact, lit: segs[0].lit}
	case len(segs) == 2 && segs[0].kind == segLit && segs[1].kind == segStar:
		return pattern{shape: shapePrefix, lit: segs[0].lit}
	}
	return pattern{shape: shapeGlob, segs: segs}
}

// match reports whether s matches p; fold makes the comparison
// case-insensitive (Unicode simple folding, byte length preserved). r
// supplies policy variables; a variable whose key is absent and that has no
// default makes the pattern match nothing, since AWS cannot resolve it.
func (p *pattern) match(s string, r *Request, fold bool) bool {
	switch p.shape {
	case shapeAny:
		return true
	case shapeExact:
		return len(s) == len(p.lit) && equal(s, p.lit, fold)
	case shapePrefix:
		return len(s) >= len(p.lit) && equal(s[:len(p.lit)], p.lit, fold)
	}
	return glob(p.segs, s, r, fold)
}

func equal(a, b string, fold bool) bool {
	if fold {
		return strings.EqualFold(a, b)
	}
	return a == b
}

func hasPrefix(s, prefix string, fold bool) bool {
	return len(s) >= len(prefix) && equal(s[:len(prefix)], prefix, fold)
}

// glob is the classic linear wildcard matcher: on a mismatch it backtracks
// to the last '*' and lets it swallow one more character. Only the last star
// ever needs revisiting, so the cost is O(len(segs)·len(s)) at worst and no
// allocation.
func glob(segs []seg, s string, r *Request, fold bool) bool {
	si, sp := 0, 0
	star, starSp := -1, 0
	for {
		if si < len(segs) {
			g := &segs[si]
			switch g.kind {
			case segStar:
				star, starSp = si, sp
				si++
				continue
			case segOne:
				if sp < len(s) {
					_, n := utf8.DecodeRuneInString(s[sp:])
					sp += n
					si++
					continue
				}
			case segLit:
				if hasPrefix(s[sp:], g.lit, fold) {
					sp += len(g.lit)
					si++
					continue
				}
			case segVar:
				v, ok := r.str(g.key)
				if !ok {
					if !g.hasDef {
						return false
					}
					v = g.lit
				}
				if hasPrefix(s[sp:], v, fold) {
					sp += len(v)
					si++
					continue
				}
			}
		} else if sp == len(s) {
			return true
		}
		if star < 0 || starSp >= len(s) {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[starSp:])
		starSp += n
		si, sp = star+1, starSp
	}
}

// arnPattern is an ArnEquals/ArnLike value. AWS matches "each of the six
// colon-delimited components of the ARN" on its own, so a wildcard never
// crosses a ':' outside the last (resource) component. A value with fewer
// than six components is refused, unless it holds a policy variable (such
// as "${aws:PrincipalArn}"), which is then matched as a whole string.
type arnPattern struct {
	parts []pattern // 6 components, or 1 whole-string pattern
}

func compileARNPattern(raw string, o compileOptions) (arnPattern, error) {
	comps := splitARN(raw, o.variables)
	if len(comps) != 6 || comps[0] != "arn" {
		if !o.variables || !strings.Contains(raw, "${") {
			return arnPattern{}, fmt.Errorf("invalid ARN %q: want arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE", raw)
		}
		comps = []string{raw}
	}
	a := arnPattern{parts: make([]pattern, len(comps))}
	for i, c := range comps {
		p, err := compilePattern(c, o)
		if err != nil {
			return arnPattern{}, err
		}
		a.parts[i] = p
	}
	return a, nil
}

// splitARN splits s at its first five colons, skipping colons inside policy
// variables when vars is set. It returns fewer than six parts when s has
// fewer colons.
func splitARN(s string, vars bool) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s) && len(parts) < 5; i++ {
		switch {
		case vars && s[i] == '$' && i+1 < len(s) && s[i+1] == '{':
			depth++
		case depth > 0 && s[i] == '}':
			depth--
		case depth == 0 && s[i] == ':':
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

func (a *arnPattern) match(s string, r *Request) bool {
	if len(a.parts) == 1 {
		return a.parts[0].match(s, r, false)
	}
	for i := range 5 {
		c := strings.IndexByte(s, ':')
		if c < 0 || !a.parts[i].match(s[:c], r, false) {
			return false
		}
		s = s[c+1:]
	}
	return a.parts[5].match(s, r, false)
}

// mayMatchUnder reports whether p can match exact, or some string that
// starts with prefix. Variables count as '*'. It runs a set-of-states
// simulation, so adversarial patterns cost O(len(segs)·len(s)); it is for
// validation, not the request path.
func (p *pattern) mayMatchUnder(exact, prefix string) bool {
	const one, star = -1, -2
	var toks []int // literal bytes, or one / star
	lit := func(l string) {
		for i := 0; i < len(l); i++ {
			toks = append(toks, int(l[i]))
		}
	}
	switch p.shape {
	case shapeAny:
		return true
	case shapeExact:
		lit(p.lit)
	case shapePrefix:
		lit(p.lit)
		toks = append(toks, star)
	default:
		for _, g := range p.segs {
			switch g.kind {
			case segLit:
				lit(g.lit)
			case segOne:
				toks = append(toks, one)
			default:
				toks = append(toks, star)
			}
		}
	}
	closeStars := func(set []bool) {
		for st, t := range toks {
			if set[st] && t == star {
				set[st+1] = true
			}
		}
	}
	run := func(s string) []bool {
		cur := make([]bool, len(toks)+1)
		cur[0] = true
		closeStars(cur)
		for i := 0; i < len(s); i++ {
			next := make([]bool, len(toks)+1)
			for st, on := range cur {
				if !on || st == len(toks) {
					continue
				}
				switch t := toks[st]; {
				case t == star:
					next[st] = true
				case t == one || t == int(s[i]):
					next[st+1] = true
				}
			}
			closeStars(next)
			cur = next
		}
		return cur
	}
	if run(exact)[len(toks)] {
		return true
	}
	for _, on := range run(prefix) {
		if on {
			return true
		}
	}
	return false
}
