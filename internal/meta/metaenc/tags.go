package metaenc

import "github.com/nixbucket/nixbucket/internal/meta"

// EncodeTags encodes object tags as a list of strings (key, value, key,
// value, …, in order), or as nothing at all when there are none: the
// stores' tags columns default to the empty value, which every object
// written before tags existed has.
func EncodeTags(tags []meta.Tag) []byte {
	if len(tags) == 0 {
		return []byte{}
	}
	ss := make([]string, 0, 2*len(tags))
	for _, t := range tags {
		ss = append(ss, t.Key, t.Value)
	}
	return EncodeStrings(ss)
}

// DecodeTags decodes EncodeTags's bytes; nil for none. The strings share
// b's memory.
func DecodeTags(b string) ([]meta.Tag, error) {
	if b == "" {
		return nil, nil
	}
	ss, err := DecodeStrings(b)
	if err != nil || len(ss)%2 != 0 {
		return nil, errStrings
	}
	var tags []meta.Tag
	for i := 0; i < len(ss); i += 2 {
		tags = append(tags, meta.Tag{Key: ss[i], Value: ss[i+1]})
	}
	return tags, nil
}
