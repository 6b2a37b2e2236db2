package queue

import (
	"strconv"

	"github.com/aws/aws-lambda-go/events"
)

// SenderID is the SenderId attribute of every message: gureum does not
// know AWS principals.
const SenderID = "gureum"

// SQSEvent is the event a queue-triggered function receives, in AWS's shape
// (github.com/aws/aws-lambda-go/events.SQSEvent).
func SQSEvent(msgs []Message, region, accountID string) events.SQSEvent {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(msgs))}
	for i, m := range msgs {
		r := events.SQSMessage{
			MessageId:              m.MessageID,
			ReceiptHandle:          m.ReceiptHandle,
			Body:                   m.Body,
			Md5OfBody:              m.MD5OfBody,
			Md5OfMessageAttributes: m.MD5OfMessageAttributes,
			Attributes: map[string]string{
				"ApproximateReceiveCount":          strconv.Itoa(m.ReceiveCount),
				"SentTimestamp":                    strconv.FormatInt(m.SentAt.UnixMilli(), 10),
				"SenderId":                         SenderID,
				"ApproximateFirstReceiveTimestamp": strconv.FormatInt(m.FirstReceivedAt.UnixMilli(), 10),
			},
			MessageAttributes: make(map[string]events.SQSMessageAttribute, len(m.Attributes)),
			EventSourceARN:    "arn:aws:sqs:" + region + ":" + accountID + ":" + m.Queue,
			EventSource:       "aws:sqs",
			AWSRegion:         region,
		}
		for name, a := range m.Attributes {
			ma := events.SQSMessageAttribute{
				DataType:         a.DataType,
				StringListValues: []string{},
				BinaryListValues: [][]byte{},
			}
			if a.baseType() == "Binary" {
				ma.BinaryValue = a.BinaryValue
			} else {
				v := a.StringValue
				ma.StringValue = &v
			}
			r.MessageAttributes[name] = ma
		}
		ev.Records[i] = r
	}
	return ev
}
