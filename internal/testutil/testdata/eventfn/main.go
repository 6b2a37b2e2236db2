// Command eventfn is the function the event tests deploy. It prints one
// line per record it receives, so tests can read what arrived from its log:
//
//	sqs BODY        a queue message; a body starting with "fail" is reported
//	                in batchItemFailures, "error-all" fails the whole batch
//	sns MESSAGE     a topic notification; a message starting with "fail" fails
//	schedule TIME   an EventBridge scheduled event
//	s3 NAME KEY     a bucket event: its eventName and (decoded) object key
//	event MSG       any other event {"msg": ..., "fail": bool}
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	gureum "github.com/gureum/gureum/sdk/go"
)

type anyEvent struct {
	Records []struct {
		EventSource string `json:"eventSource"`
		EventSrc2   string `json:"EventSource"`
		MessageID   string `json:"messageId"`
		Body        string `json:"body"`
		SNS         struct {
			Message string `json:"Message"`
		} `json:"Sns"`
		EventName string `json:"eventName"`
		S3        struct {
			Object struct {
				Key string `json:"key"`
			} `json:"object"`
		} `json:"s3"`
	} `json:"Records"`
	Source     string `json:"source"`
	DetailType string `json:"detail-type"`
	Time       string `json:"time"`
	Msg        string `json:"msg"`
	Fail       bool   `json:"fail"`
}

func handler(ctx context.Context, raw json.RawMessage) (any, error) {
	var ev anyEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, err
	}
	switch {
	case len(ev.Records) > 0 && ev.Records[0].EventSource == "aws:sqs":
		var resp events.SQSEventResponse
		for _, r := range ev.Records {
			fmt.Println("sqs", r.Body)
			if r.Body == "error-all" {
				return nil, errors.New("failed the whole batch on purpose")
			}
			if strings.HasPrefix(r.Body, "fail") {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageID})
			}
		}
		return resp, nil
	case len(ev.Records) > 0 && ev.Records[0].EventSrc2 == "aws:sns":
		for _, r := range ev.Records {
			fmt.Println("sns", r.SNS.Message)
			if strings.HasPrefix(r.SNS.Message, "fail") {
				return nil, errors.New("failed on purpose: " + r.SNS.Message)
			}
		}
		return map[string]int{"records": len(ev.Records)}, nil
	case len(ev.Records) > 0 && ev.Records[0].EventSource == "aws:s3":
		for _, r := range ev.Records {
			// Keys arrive URL-encoded, spaces as '+', as S3 writes them.
			key, err := url.QueryUnescape(r.S3.Object.Key)
			if err != nil {
				return nil, err
			}
			fmt.Println("s3", r.EventName, key)
		}
		return nil, nil
	case ev.Source == "aws.events" && ev.DetailType == "Scheduled Event":
		fmt.Println("schedule", ev.Time)
		return nil, nil
	default:
		fmt.Println("event", ev.Msg)
		if ev.Fail {
			return nil, errors.New("failed on purpose: " + ev.Msg)
		}
		return map[string]string{"msg": ev.Msg}, nil
	}
}

func main() {
	gureum.Start(handler)
}
