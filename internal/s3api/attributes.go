package s3api

import (
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"

	"github.com/nixbucket/nixbucket/internal/checksum"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// GetObjectAttributes (GET /bucket/key?attributes): what HeadObject and
// ListParts would tell, in one XML document, for the attributes named in
// x-amz-object-attributes.

type objectAttributes struct {
	XMLName      xml.Name         `xml:"GetObjectAttributesResponse"`
	NS           string           `xml:"xmlns,attr"`
	ETag         string           `xml:",omitempty"`
	Checksum     *attrChecksumXML `xml:",omitempty"`
	ObjectParts  *objectPartsXML  `xml:",omitempty"`
	StorageClass string           `xml:",omitempty"`
	ObjectSize   *int64           `xml:",omitempty"`
}

// attrChecksumXML is GetObjectAttributes's Checksum: the value without a
// composite checksum's "-N" (as S3 sends it there), and its type.
type attrChecksumXML struct {
	checksumXML
	ChecksumType string `xml:",omitempty"`
}

// objectPartsXML is GetObjectAttributes's ObjectParts: the count alone,
// or, for an object with a COMPOSITE checksum, a page of its parts too.
type objectPartsXML struct {
	PartsCount int
	*partsPage
}

type partsPage struct {
	PartNumberMarker     int
	NextPartNumberMarker int
	MaxParts             int
	IsTruncated          bool
	Parts                []objectPartXML `xml:"Part"`
}

type objectPartXML struct {
	PartNumber int
	Size       int64
}

// objectAttributeNames are the values x-amz-object-attributes may list.
var objectAttributeNames = map[string]bool{"ETag": true, "Checksum": true, "ObjectParts": true, "StorageClass": true, "ObjectSize": true}

// getObjectAttributes needs s3:GetObject and s3:GetObjectAttributes in an
// unversioned bucket (GetObjectAttributes's API reference, "Permissions").
// As in S3, ObjectParts lists the parts only of an object whose checksum
// is COMPOSITE (made of its parts'); of any other multipart object it
// gives the count alone (API reference, GetObjectAttributesParts: "if an
// additional checksum ... isn't applied to the object ..., the response
// doesn't return the Part element"). Per-part checksums are not kept once
// an upload completes, so parts are listed with their numbers and sizes.
func getObjectAttributes(q *request) error {
	if err := q.allow("s3:GetObject", q.objectARN()); err != nil {
		return err
	}
	if err := q.allow("s3:GetObjectAttributes", q.objectARN()); err != nil {
		return err
	}
	if err := noVersion(q); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, v := range q.Header.Values("X-Amz-Object-Attributes") {
		for _, name := range strings.Split(v, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			if !objectAttributeNames[name] {
				return errorf("InvalidArgument", "Invalid attribute name specified.")
			}
			want[name] = true
		}
	}
	if len(want) == 0 {
		return errorf("InvalidRequest", "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty")
	}
	maxParts, err := headerInt(q, "X-Amz-Max-Parts", objects.MaxListResults)
	if err != nil {
		return err
	}
	marker, err := headerInt(q, "X-Amz-Part-Number-Marker", 0)
	if err != nil {
		return err
	}
	obj, err := q.h.Objects.Head(q.Context(), q.bucket, q.key)
	if err != nil {
		return q.missing(err)
	}
	res := objectAttributes{NS: s3NS}
	if want["ETag"] {
		res.ETag = obj.ETag // unquoted, unlike the ETag header, as AWS sends it here
	}
	if want["Checksum"] && obj.ChecksumAlgorithm != "" {
		v, typ := obj.Checksum, "FULL_OBJECT"
		if i := strings.LastIndexByte(v, '-'); i >= 0 {
			v, typ = v[:i], "COMPOSITE"
		}
		res.Checksum = &attrChecksumXML{checksumXML: newChecksumXML(checksum.Algorithm(obj.ChecksumAlgorithm), v), ChecksumType: typ}
	}
	if want["ObjectParts"] && obj.PartsCount > 0 {
		res.ObjectParts = &objectPartsXML{PartsCount: obj.PartsCount}
	}
	if want["ObjectParts"] && obj.PartsCount > 0 && checksum.TypeOf(obj.Checksum) == checksum.Composite {
		p := &partsPage{PartNumberMarker: marker, MaxParts: min(maxParts, objects.MaxListResults)}
		for i, seg := range obj.Segments {
			n := i + 1
			if n <= marker {
				continue
			}
			if len(p.Parts) == p.MaxParts {
				p.IsTruncated = true
				break
			}
			p.Parts = append(p.Parts, objectPartXML{PartNumber: n, Size: seg.Size})
			p.NextPartNumberMarker = n
		}
		res.ObjectParts.partsPage = p
	}
	if want["StorageClass"] {
		res.StorageClass = "STANDARD"
	}
	if want["ObjectSize"] {
		res.ObjectSize = &obj.Size
	}
	q.w.Header().Set("Last-Modified", obj.Modified.UTC().Format(http.TimeFormat))
	writeXML(q.w, http.StatusOK, res)
	return nil
}

// headerInt reads a non-negative integer header, def when absent.
func headerInt(q *request, name string, def int) (int, error) {
	s := q.Header.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, errorf("InvalidArgument", name+" must be a non-negative integer")
	}
	return n, nil
}
