package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// member is one name/value pair of a JSON object, in document order.
type member struct {
	name string
	raw  json.RawMessage
}

// decodeObject splits a valid JSON object into its members, refusing
// duplicate names (encoding/json would silently keep the last, and would
// match names case-insensitively).
func decodeObject(raw []byte) ([]member, error) {
	if firstByte(raw) != '{' {
		return nil, errors.New("must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var ms []member
	seen := make(map[string]bool)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := t.(string)
		if seen[name] {
			return nil, fmt.Errorf("has %q twice", name)
		}
		seen[name] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		ms = append(ms, member{name, v})
	}
	return ms, nil
}

func firstByte(raw []byte) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

func jsonString(raw json.RawMessage) (string, bool) {
	var s string
	if firstByte(raw) != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// stringList reads a string or a non-empty array of strings.
func stringList(raw json.RawMessage) ([]string, error) {
	if s, ok := jsonString(raw); ok {
		return []string{s}, nil
	}
	var vs []string
	if firstByte(raw) != '[' || json.Unmarshal(raw, &vs) != nil {
		return nil, errors.New("must be a string or an array of strings")
	}
	if len(vs) == 0 {
		return nil, errors.New("must not be an empty array")
	}
	return vs, nil
}

// conditionValues reads a condition value: a string, number or boolean, or
// a non-empty array of them. Numbers keep their JSON text.
func conditionValues(raw json.RawMessage) ([]string, error) {
	scalar := func(r json.RawMessage) (string, bool) {
		switch c := firstByte(r); {
		case c == '"':
			return jsonString(r)
		case c == 't' || c == 'f' || c == '-' || c >= '0' && c <= '9':
			return string(bytes.TrimSpace(r)), true
		}
		return "", false
	}
	if v, ok := scalar(raw); ok {
		return []string{v}, nil
	}
	var elems []json.RawMessage
	if firstByte(raw) != '[' || json.Unmarshal(raw, &elems) != nil {
		return nil, errors.New("must be a string, number or boolean, or an array of them")
	}
	if len(elems) == 0 {
		return nil, errors.New("must not be an empty array")
	}
	vals := make([]string, len(elems))
	for i, e := range elems {
		v, ok := scalar(e)
		if !ok {
			return nil, errors.New("must be a string, number or boolean, or an array of them")
		}
		vals[i] = v
	}
	return vals, nil
}
