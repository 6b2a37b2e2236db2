package lambdaapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/gureum/gureum/internal/invoke"
	"github.com/gureum/gureum/internal/lambdaapi"
	"github.com/gureum/gureum/internal/registry"
)

// fakeInvoker answers every invocation with res and err.
type fakeInvoker struct {
	res *invoke.Result
	err error
}

func (f *fakeInvoker) Invoke(context.Context, *invoke.Request) (*invoke.Result, error) {
	return f.res, f.err
}

type fakeFunctions struct{}

func (fakeFunctions) Get(_ context.Context, name, qualifier string) (*registry.Version, error) {
	return nil, fmt.Errorf("function %s: %w", name, registry.ErrNotFound)
}

func (fakeFunctions) LatestAll(context.Context) ([]*registry.Version, error) {
	return nil, errors.New("store unavailable")
}

// TestInvokerFailures covers the invoker outcomes an end-to-end test cannot
// easily provoke.
func TestInvokerFailures(t *testing.T) {
	inv := &fakeInvoker{}
	srv := httptest.NewServer(lambdaapi.New(lambdaapi.Config{Invoker: inv, Functions: fakeFunctions{}, Region: "eu-central-1", AccountID: "123456789012"}))
	t.Cleanup(srv.Close)
	c := lambda.New(lambda.Options{
		Region:       "eu-central-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "a", SecretAccessKey: "b"}, nil
		}),
		RetryMaxAttempts: 1,
	})
	ctx := context.Background()
	in := &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`{}`)}

	// An instance that cannot start is the function's failure, as in Lambda.
	inv.res, inv.err = &invoke.Result{Version: "3"}, fmt.Errorf("%w: module has no handle export", invoke.ErrInitFailed)
	out, err := c.Invoke(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ ErrorMessage, ErrorType string }
	if json.Unmarshal(out.Payload, &doc) != nil || aws.ToString(out.FunctionError) != "Unhandled" ||
		doc.ErrorType != "Runtime.InitError" || aws.ToString(out.ExecutedVersion) != "3" {
		t.Fatalf("init failure: %s %q", out.Payload, aws.ToString(out.FunctionError))
	}

	inv.res, inv.err = nil, invoke.ErrShuttingDown
	_, err = c.Invoke(ctx, in)
	var se *types.ServiceException
	if !errors.As(err, &se) || aws.ToString(se.Type) != "Service" {
		t.Fatalf("shutting down: %v", err)
	}

	inv.res, inv.err = nil, fmt.Errorf("%w: fn:$LATEST", invoke.ErrFunctionNotFound)
	_, err = c.Invoke(ctx, in)
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) || nf.ErrorMessage() != "Function not found: arn:aws:lambda:eu-central-1:123456789012:function:fn" {
		t.Fatalf("not found: %v", err)
	}

	inv.res, inv.err = nil, fmt.Errorf("%w: 7000000 bytes", invoke.ErrPayloadTooLarge)
	_, err = c.Invoke(ctx, in)
	var rtl *types.RequestTooLargeException
	if !errors.As(err, &rtl) {
		t.Fatalf("payload too large: %v", err)
	}

	if _, err := c.ListFunctions(ctx, &lambda.ListFunctionsInput{}); !errors.As(err, &se) {
		t.Fatalf("list with the registry down: %v", err)
	}
}
