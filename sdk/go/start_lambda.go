//go:build !wasip1

package gureum

import "github.com/aws/aws-lambda-go/lambda"

// Start runs handler as an AWS Lambda function: it calls lambda.Start, which
// serves invocations from the Lambda Runtime API (on AWS, or from gureum's
// process runtime) and does not return.
func Start(handler any) {
	lambda.Start(handler)
}
