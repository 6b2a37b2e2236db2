package bucket

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gureum/gureum/internal/registry"
	"github.com/gureum/gureum/internal/storage/blob"
)

// OwnerID is the principal id given as every bucket's ownerIdentity.
const OwnerID = "gureum"

// Record is the S3 event record that notification n delivers for ev, as S3
// writes it: the key URL-encoded (spaces as '+'), the time in milliseconds,
// size and eTag only for created objects. URLDecodedKey holds the key
// itself, as aws-lambda-go fills it when decoding.
func Record(region string, n Notification, ev blob.Event) events.S3EventRecord {
	rec := events.S3EventRecord{
		EventVersion:      "2.1",
		EventSource:       "aws:s3",
		AWSRegion:         region,
		EventTime:         ev.Time.UTC().Truncate(time.Millisecond),
		EventName:         ev.Name,
		PrincipalID:       events.S3UserIdentity{PrincipalID: ev.Principal},
		RequestParameters: events.S3RequestParameters{SourceIPAddress: ev.SourceIP},
		ResponseElements:  map[string]string{"x-amz-request-id": ev.RequestID, "x-amz-id-2": hostID(ev.RequestID)},
		S3: events.S3Entity{
			SchemaVersion:   "1.0",
			ConfigurationID: n.ID,
			Bucket: events.S3Bucket{
				Name:          ev.Bucket,
				OwnerIdentity: events.S3UserIdentity{PrincipalID: OwnerID},
				Arn:           "arn:aws:s3:::" + ev.Bucket,
			},
			Object: events.S3Object{
				Key:           encodeKey(ev.Key),
				URLDecodedKey: ev.Key,
				Sequencer:     ev.Sequencer,
			},
		},
	}
	if EventKind(ev.Name) == registry.BucketCreated {
		rec.S3.Object.Size = ev.Size
		rec.S3.Object.ETag = ev.ETag
	}
	return rec
}

// hostID stands in for S3's x-amz-id-2: an opaque value tied to the
// request.
func hostID(requestID string) string {
	if requestID == "" {
		return ""
	}
	h := sha256.Sum256([]byte("gureum/" + requestID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// encodeKey URL-encodes a key as S3 does in event records: letters,
// digits, '-', '_', '.', '*' and '/' stay, a space becomes '+', every
// other byte %XX. url.QueryUnescape reverses it.
func encodeKey(key string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(key))
	for i := 0; i < len(key); i++ {
		switch c := key[i]; {
		case nameByte(c) || c == '.' || c == '*' || c == '/':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xf])
		}
	}
	return b.String()
}

// The JSON of an S3 event, with S3's fields exactly: events.S3Event would
// add urlDecodedKey and empty fields S3 leaves out.
type (
	wireEvent struct {
		Records []wireRecord `json:"Records"`
	}
	wireRecord struct {
		EventVersion      string       `json:"eventVersion"`
		EventSource       string       `json:"eventSource"`
		AWSRegion         string       `json:"awsRegion"`
		EventTime         string       `json:"eventTime"`
		EventName         string       `json:"eventName"`
		UserIdentity      wireIdentity `json:"userIdentity"`
		RequestParameters struct {
			SourceIPAddress string `json:"sourceIPAddress"`
		} `json:"requestParameters"`
		ResponseElements struct {
			RequestID string `json:"x-amz-request-id"`
			HostID    string `json:"x-amz-id-2"`
		} `json:"responseElements"`
		S3 struct {
			SchemaVersion   string `json:"s3SchemaVersion"`
			ConfigurationID string `json:"configurationId"`
			Bucket          struct {
				Name          string       `json:"name"`
				OwnerIdentity wireIdentity `json:"ownerIdentity"`
				ARN           string       `json:"arn"`
			} `json:"bucket"`
			Object struct {
				Key       string `json:"key"`
				Size      *int64 `json:"size,omitempty"`
				ETag      string `json:"eTag,omitempty"`
				VersionID string `json:"versionId,omitempty"`
				Sequencer string `json:"sequencer"`
			} `json:"object"`
		} `json:"s3"`
	}
	wireIdentity struct {
		PrincipalID string `json:"principalId"`
	}
)

// eventJSON is the S3 event holding rec alone, as functions, queues and
// topics receive it.
func eventJSON(rec events.S3EventRecord) []byte {
	var w wireRecord
	w.EventVersion = rec.EventVersion
	w.EventSource = rec.EventSource
	w.AWSRegion = rec.AWSRegion
	w.EventTime = rec.EventTime.UTC().Format("2006-01-02T15:04:05.000Z")
	w.EventName = rec.EventName
	w.UserIdentity.PrincipalID = rec.PrincipalID.PrincipalID
	w.RequestParameters.SourceIPAddress = rec.RequestParameters.SourceIPAddress
	w.ResponseElements.RequestID = rec.ResponseElements["x-amz-request-id"]
	w.ResponseElements.HostID = rec.ResponseElements["x-amz-id-2"]
	w.S3.SchemaVersion = rec.S3.SchemaVersion
	w.S3.ConfigurationID = rec.S3.ConfigurationID
	w.S3.Bucket.Name = rec.S3.Bucket.Name
	w.S3.Bucket.OwnerIdentity.PrincipalID = rec.S3.Bucket.OwnerIdentity.PrincipalID
	w.S3.Bucket.ARN = rec.S3.Bucket.Arn
	o := &w.S3.Object
	o.Key = rec.S3.Object.Key
	o.VersionID = rec.S3.Object.VersionID
	o.Sequencer = rec.S3.Object.Sequencer
	if EventKind(rec.EventName) == registry.BucketCreated {
		size := rec.S3.Object.Size
		o.Size = &size
		o.ETag = rec.S3.Object.ETag
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(wireEvent{Records: []wireRecord{w}}); err != nil {
		panic("bucket events: encode S3 event: " + err.Error()) // strings only: cannot happen
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
