package s3api

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gureum/gureum/internal/storage/blob"
)

// xmlNS is the namespace of S3's documents.
const xmlNS = "http://s3.amazonaws.com/doc/2006-03-01/"

// maxXMLBytes bounds a request's XML document. A CompleteMultipartUpload
// naming 10,000 parts with checksums, or a DeleteObjects naming 1,000
// keys of 1,024 bytes, fits.
const maxXMLBytes = 4 << 20

// maxDeleteKeys is the most keys one DeleteObjects may name, as in S3.
const maxDeleteKeys = 1000

// isoTime is how S3 writes times in documents.
func isoTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// Request documents.

type createBucketConfiguration struct {
	XMLName            xml.Name `xml:"CreateBucketConfiguration"`
	LocationConstraint string   `xml:"LocationConstraint"`
}

type deleteRequest struct {
	XMLName xml.Name `xml:"Delete"`
	Quiet   bool     `xml:"Quiet"`
	Objects []struct {
		Key       *string `xml:"Key"`
		VersionID string  `xml:"VersionId"`
	} `xml:"Object"`
}

type completeRequest struct {
	XMLName xml.Name `xml:"CompleteMultipartUpload"`
	Parts   []struct {
		PartNumber *int   `xml:"PartNumber"`
		ETag       string `xml:"ETag"`
	} `xml:"Part"`
}

// decodeXML decodes one document whose root element is root into v. It
// refuses anything but that one element (and whitespace, comments or
// processing instructions around it).
func decodeXML(b []byte, root string, v any) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	// Find the root element.
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local != root {
				return errors.New("root element is " + t.Name.Local + ", not " + root)
			}
			if err := d.DecodeElement(v, &t); err != nil {
				return err
			}
			return expectEnd(d)
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return errors.New("text outside the root element")
			}
		case xml.Directive:
			return errors.New("directives are not accepted")
		}
	}
}

func expectEnd(d *xml.Decoder) error {
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return errors.New("text after the root element")
			}
		case xml.Comment, xml.ProcInst:
		default:
			return errors.New("content after the root element")
		}
	}
}

// parseDelete reads a DeleteObjects document: the keys to delete and the
// quiet flag.
func parseDelete(b []byte) (keys []string, quiet bool, aerr *apiError) {
	var req deleteRequest
	if err := decodeXML(b, "Delete", &req); err != nil {
		return nil, false, newError(CodeMalformedXML, msgMalformedXML)
	}
	if len(req.Objects) == 0 || len(req.Objects) > maxDeleteKeys {
		return nil, false, newError(CodeMalformedXML, msgMalformedXML+": a Delete names 1 to 1000 objects.")
	}
	keys = make([]string, 0, len(req.Objects))
	for _, o := range req.Objects {
		if o.Key == nil {
			return nil, false, newError(CodeMalformedXML, msgMalformedXML+": every Object needs a Key.")
		}
		keys = append(keys, *o.Key)
	}
	return keys, req.Quiet, nil
}

// parseComplete reads a CompleteMultipartUpload document.
func parseComplete(b []byte) ([]blob.CompletedPart, *apiError) {
	var req completeRequest
	if err := decodeXML(b, "CompleteMultipartUpload", &req); err != nil {
		return nil, newError(CodeMalformedXML, msgMalformedXML)
	}
	if len(req.Parts) == 0 {
		return nil, newError(CodeMalformedXML, msgMalformedXML+": you must specify at least one part.")
	}
	if len(req.Parts) > blob.MaxParts {
		return nil, errorf(CodeMalformedXML, msgMalformedXML+": at most %d parts.", blob.MaxParts)
	}
	parts := make([]blob.CompletedPart, 0, len(req.Parts))
	for _, p := range req.Parts {
		if p.PartNumber == nil {
			return nil, newError(CodeMalformedXML, msgMalformedXML+": every Part needs a PartNumber.")
		}
		if *p.PartNumber < 1 || *p.PartNumber > blob.MaxParts {
			return nil, errorf(CodeInvalidArgument, "Part number must be an integer between 1 and %d, inclusive.", blob.MaxParts)
		}
		parts = append(parts, blob.CompletedPart{Number: *p.PartNumber, ETag: unquoteETag(p.ETag)})
	}
	return parts, nil
}

// parseCreateBucket checks a CreateBucket body, which may be empty or a
// CreateBucketConfiguration whose location constraint is ignored.
func parseCreateBucket(b []byte) *apiError {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	var cfg createBucketConfiguration
	if err := decodeXML(b, "CreateBucketConfiguration", &cfg); err != nil {
		return newError(CodeMalformedXML, msgMalformedXML)
	}
	return nil
}

// unquoteETag strips the quotes of an ETag as clients send it back.
func unquoteETag(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "W/")
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	return s
}

func quoteETag(s string) string { return `"` + s + `"` }

// Response documents.

type owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

// theOwner is the one owner of every bucket: gureum has no accounts.
var theOwner = owner{ID: "gureum", DisplayName: "gureum"}

type listAllMyBucketsResult struct {
	XMLName           xml.Name     `xml:"ListAllMyBucketsResult"`
	NS                string       `xml:"xmlns,attr"`
	Owner             owner        `xml:"Owner"`
	Buckets           []bucketItem `xml:"Buckets>Bucket"`
	ContinuationToken string       `xml:"ContinuationToken,omitempty"`
	Prefix            string       `xml:"Prefix,omitempty"`
}

type bucketItem struct {
	Name         string `xml:"Name"`
	CreationDate string `xml:"CreationDate"`
	BucketRegion string `xml:"BucketRegion,omitempty"`
}

type locationConstraint struct {
	XMLName xml.Name `xml:"LocationConstraint"`
	NS      string   `xml:"xmlns,attr"`
	Region  string   `xml:",chardata"`
}

type versioningConfiguration struct {
	XMLName xml.Name `xml:"VersioningConfiguration"`
	NS      string   `xml:"xmlns,attr"`
}

type objectItem struct {
	Key          string `xml:"Key"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
	StorageClass string `xml:"StorageClass"`
}

type commonPrefix struct {
	Prefix string `xml:"Prefix"`
}

type listBucketResult struct {
	XMLName               xml.Name       `xml:"ListBucketResult"`
	NS                    string         `xml:"xmlns,attr"`
	Name                  string         `xml:"Name"`
	Prefix                string         `xml:"Prefix"`
	Marker                *string        `xml:"Marker"`               // v1
	NextMarker            string         `xml:"NextMarker,omitempty"` // v1
	ContinuationToken     string         `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string         `xml:"NextContinuationToken,omitempty"`
	StartAfter            string         `xml:"StartAfter,omitempty"`
	KeyCount              *int           `xml:"KeyCount"` // v2
	MaxKeys               int            `xml:"MaxKeys"`
	Delimiter             string         `xml:"Delimiter,omitempty"`
	EncodingType          string         `xml:"EncodingType,omitempty"`
	IsTruncated           bool           `xml:"IsTruncated"`
	Contents              []objectItem   `xml:"Contents"`
	CommonPrefixes        []commonPrefix `xml:"CommonPrefixes"`
}

type deleteResult struct {
	XMLName xml.Name       `xml:"DeleteResult"`
	NS      string         `xml:"xmlns,attr"`
	Deleted []deletedItem  `xml:"Deleted"`
	Errors  []deleteFailed `xml:"Error"`
}

type deletedItem struct {
	Key string `xml:"Key"`
}

type deleteFailed struct {
	Key     string `xml:"Key"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

type copyObjectResult struct {
	XMLName      xml.Name `xml:"CopyObjectResult"`
	NS           string   `xml:"xmlns,attr"`
	ETag         string   `xml:"ETag"`
	LastModified string   `xml:"LastModified"`
}

type copyPartResult struct {
	XMLName      xml.Name `xml:"CopyPartResult"`
	NS           string   `xml:"xmlns,attr"`
	ETag         string   `xml:"ETag"`
	LastModified string   `xml:"LastModified"`
}

type initiateResult struct {
	XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
	NS       string   `xml:"xmlns,attr"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	UploadID string   `xml:"UploadId"`
}

type completeResult struct {
	XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
	NS       string   `xml:"xmlns,attr"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
}

type partItem struct {
	PartNumber   int    `xml:"PartNumber"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
}

type listPartsResult struct {
	XMLName              xml.Name   `xml:"ListPartsResult"`
	NS                   string     `xml:"xmlns,attr"`
	Bucket               string     `xml:"Bucket"`
	Key                  string     `xml:"Key"`
	UploadID             string     `xml:"UploadId"`
	Initiator            owner      `xml:"Initiator"`
	Owner                owner      `xml:"Owner"`
	StorageClass         string     `xml:"StorageClass"`
	PartNumberMarker     int        `xml:"PartNumberMarker"`
	NextPartNumberMarker int        `xml:"NextPartNumberMarker"`
	MaxParts             int        `xml:"MaxParts"`
	IsTruncated          bool       `xml:"IsTruncated"`
	Parts                []partItem `xml:"Part"`
}

type uploadItem struct {
	Key          string `xml:"Key"`
	UploadID     string `xml:"UploadId"`
	Initiator    owner  `xml:"Initiator"`
	Owner        owner  `xml:"Owner"`
	StorageClass string `xml:"StorageClass"`
	Initiated    string `xml:"Initiated"`
}

type listUploadsResult struct {
	XMLName            xml.Name       `xml:"ListMultipartUploadsResult"`
	NS                 string         `xml:"xmlns,attr"`
	Bucket             string         `xml:"Bucket"`
	KeyMarker          string         `xml:"KeyMarker"`
	UploadIDMarker     string         `xml:"UploadIdMarker"`
	NextKeyMarker      string         `xml:"NextKeyMarker,omitempty"`
	NextUploadIDMarker string         `xml:"NextUploadIdMarker,omitempty"`
	Prefix             string         `xml:"Prefix,omitempty"`
	Delimiter          string         `xml:"Delimiter,omitempty"`
	EncodingType       string         `xml:"EncodingType,omitempty"`
	MaxUploads         int            `xml:"MaxUploads"`
	IsTruncated        bool           `xml:"IsTruncated"`
	Uploads            []uploadItem   `xml:"Upload"`
	CommonPrefixes     []commonPrefix `xml:"CommonPrefixes"`
}

// marshalXML encodes a response document with the XML declaration.
func marshalXML(v any) ([]byte, error) {
	b, err := xml.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), b...), nil
}

func itoa(n int) string { return strconv.Itoa(n) }
