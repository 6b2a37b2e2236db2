package lambdaapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/gureum/gureum/internal/config"
	"github.com/gureum/gureum/internal/pool"
	"github.com/gureum/gureum/internal/testutil"
)

// project writes a gureum.yaml whose functions build the shared test function.
func project(t *testing.T, functions string) string {
	t.Helper()
	return testutil.Project(t, "lambdaapi", functions)
}

// client is the AWS SDK's Lambda client pointed at node n, without retries
// so that every answer is the node's first.
func client(n *testutil.Node, keyID, secret string) *lambda.Client {
	return lambda.New(lambda.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(n.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret, Source: "test"}, nil
		}),
		RetryMaxAttempts: 1,
	})
}

type echoed struct {
	Msg string `json:"msg"`
	Env string `json:"env"`
}

type lambdaError struct {
	ErrorMessage string `json:"errorMessage"`
	ErrorType    string `json:"errorType"`
}

func TestInvokeWithTheAWSSDK(t *testing.T) {
	n := testutil.StartServer(t)
	n.Deploy(project(t, `
  fn:
    build: BUILD
    timeout: 1s
    env: {GREETING: hi}
  one:
    build: BUILD
    concurrency: 1
    timeout: 10s
`))
	n.Deploy(project(t, `
  fn:
    build: BUILD
    timeout: 1s
    env: {GREETING: hello}
  one:
    build: BUILD
    concurrency: 1
    timeout: 10s
`))
	c := client(n, "any", "thing")
	ctx := context.Background()
	invokeFn := func(t *testing.T, in *lambda.InvokeInput) *lambda.InvokeOutput {
		t.Helper()
		out, err := c.Invoke(ctx, in)
		if err != nil {
			t.Fatalf("invoke %s: %v", aws.ToString(in.FunctionName), err)
		}
		return out
	}

	t.Run("success", func(t *testing.T) {
		out := invokeFn(t, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`{"op":"echo","msg":"sdk"}`)})
		var got echoed
		if err := json.Unmarshal(out.Payload, &got); err != nil || got.Msg != "sdk" || got.Env != "hello" {
			t.Fatalf("payload %s (%v)", out.Payload, err)
		}
		if out.StatusCode != 200 || aws.ToString(out.ExecutedVersion) != "2" || out.FunctionError != nil || out.LogResult != nil {
			t.Fatalf("status %d, executed version %q, function error %q, log %q", out.StatusCode,
				aws.ToString(out.ExecutedVersion), aws.ToString(out.FunctionError), aws.ToString(out.LogResult))
		}
		if id, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata); id == "" {
			t.Fatal("no request id")
		}
	})
	t.Run("no payload is an empty object", func(t *testing.T) {
		out := invokeFn(t, &lambda.InvokeInput{FunctionName: aws.String("fn")})
		var got echoed
		if err := json.Unmarshal(out.Payload, &got); err != nil || got.Env != "hello" || aws.ToString(out.FunctionError) != "" {
			t.Fatalf("payload %s (%v), function error %q", out.Payload, err, aws.ToString(out.FunctionError))
		}
	})
	t.Run("qualifiers and ARNs", func(t *testing.T) {
		for _, in := range []*lambda.InvokeInput{
			{FunctionName: aws.String("fn"), Qualifier: aws.String("1")},
			{FunctionName: aws.String("fn:1")},
			{FunctionName: aws.String("123456789012:function:fn"), Qualifier: aws.String("1")},
			{FunctionName: aws.String("arn:aws:lambda:us-east-1:000000000000:function:fn:1")},
			{FunctionName: aws.String("arn:aws:lambda:us-east-1:000000000000:function:fn"), Qualifier: aws.String("1")},
		} {
			in.Payload = []byte(`{"op":"echo"}`)
			out := invokeFn(t, in)
			var got echoed
			if err := json.Unmarshal(out.Payload, &got); err != nil || got.Env != "hi" || aws.ToString(out.ExecutedVersion) != "1" {
				t.Fatalf("%s?Qualifier=%s: payload %s, version %q", aws.ToString(in.FunctionName), aws.ToString(in.Qualifier), out.Payload, aws.ToString(out.ExecutedVersion))
			}
		}
		out := invokeFn(t, &lambda.InvokeInput{FunctionName: aws.String("fn"), Qualifier: aws.String("$LATEST"), Payload: []byte(`{}`)})
		if aws.ToString(out.ExecutedVersion) != "2" {
			t.Fatalf("$LATEST executed version %q", aws.ToString(out.ExecutedVersion))
		}
	})
	t.Run("returned error", func(t *testing.T) {
		out := invokeFn(t, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`{"op":"fail","msg":"sdk"}`)})
		var e lambdaError
		if err := json.Unmarshal(out.Payload, &e); err != nil || out.StatusCode != 200 || aws.ToString(out.FunctionError) != "Unhandled" ||
			!strings.Contains(e.ErrorMessage, "failed on purpose: sdk") {
			t.Fatalf("status %d, function error %q, payload %s", out.StatusCode, aws.ToString(out.FunctionError), out.Payload)
		}
	})
	t.Run("panic", func(t *testing.T) {
		out := invokeFn(t, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`{"op":"panic"}`)})
		var e lambdaError
		if err := json.Unmarshal(out.Payload, &e); err != nil || aws.ToString(out.FunctionError) != "Unhandled" ||
			!strings.Contains(e.ErrorMessage, "panicked on purpose") {
			t.Fatalf("function error %q, payload %s", aws.ToString(out.FunctionError), out.Payload)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		out := invokeFn(t, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`{"op":"sleep","ms":5000}`)})
		var e lambdaError
		if err := json.Unmarshal(out.Payload, &e); err != nil || aws.ToString(out.FunctionError) != "Unhandled" ||
			e.ErrorType != "Sandbox.Timedout" || !strings.Contains(e.ErrorMessage, "Task timed out after 1.00 seconds") {
			t.Fatalf("function error %q, payload %s", aws.ToString(out.FunctionError), out.Payload)
		}
		// The function keeps working.
		out = invokeFn(t, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`{"op":"echo","msg":"after"}`)})
		if !strings.Contains(string(out.Payload), "after") || out.FunctionError != nil {
			t.Fatalf("after a timeout: %s", out.Payload)
		}
	})
	t.Run("tail log", func(t *testing.T) {
		out := invokeFn(t, &lambda.InvokeInput{FunctionName: aws.String("fn"), LogType: types.LogTypeTail, Payload: []byte(`{"op":"echo","msg":"tail-me"}`)})
		log, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
		if err != nil {
			t.Fatalf("log result %q: %v", aws.ToString(out.LogResult), err)
		}
		id, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
		if !strings.Contains(string(log), "echo tail-me") || !strings.Contains(string(log), "REPORT RequestId: "+id) {
			t.Fatalf("log of request %s:\n%s", id, log)
		}
	})
	t.Run("tail log is the last 4 KB", func(t *testing.T) {
		big := strings.Repeat("x", 10000)
		out := invokeFn(t, &lambda.InvokeInput{FunctionName: aws.String("fn"), LogType: types.LogTypeTail, Payload: []byte(`{"op":"echo","msg":"` + big + `"}`)})
		log, _ := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
		if len(log) != 4096 || !strings.Contains(string(log), "REPORT RequestId: ") {
			t.Fatalf("log of %d bytes:\n%.200s", len(log), log)
		}
	})
	t.Run("dry run", func(t *testing.T) {
		out := invokeFn(t, &lambda.InvokeInput{FunctionName: aws.String("fn"), InvocationType: types.InvocationTypeDryRun})
		if out.StatusCode != 204 || len(out.Payload) != 0 {
			t.Fatalf("status %d, payload %q", out.StatusCode, out.Payload)
		}
		_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("nope"), InvocationType: types.InvocationTypeDryRun})
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) {
			t.Fatalf("dry run of an unknown function: %v", err)
		}
	})
	t.Run("event is accepted with 202", func(t *testing.T) {
		out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), InvocationType: types.InvocationTypeEvent, Payload: []byte(`{}`)})
		if err != nil || out.StatusCode != 202 || len(out.Payload) != 0 {
			t.Fatalf("event invocation: %+v, %v", out, err)
		}
		big := []byte(`"` + strings.Repeat("x", 1<<20) + `"`)
		_, err = c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), InvocationType: types.InvocationTypeEvent, Payload: big})
		var tooLarge *types.RequestTooLargeException
		if !errors.As(err, &tooLarge) {
			t.Fatalf("oversized event invocation: %v", err)
		}
	})
	t.Run("unknown function or qualifier", func(t *testing.T) {
		for _, in := range []*lambda.InvokeInput{
			{FunctionName: aws.String("nope")},
			{FunctionName: aws.String("fn"), Qualifier: aws.String("7")},
			{FunctionName: aws.String("fn"), Qualifier: aws.String("no-such-alias")},
		} {
			_, err := c.Invoke(ctx, in)
			var nf *types.ResourceNotFoundException
			want := "Function not found: arn:aws:lambda:us-east-1:000000000000:function:" + aws.ToString(in.FunctionName)
			if in.Qualifier != nil {
				want += ":" + *in.Qualifier
			}
			if !errors.As(err, &nf) || nf.ErrorMessage() != want || aws.ToString(nf.Type) != "User" {
				t.Fatalf("%s: %v (want %q)", aws.ToString(in.FunctionName), err, want)
			}
		}
		_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("arn:aws:lambda:eu-west-1:000000000000:function:fn")})
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) || !strings.Contains(nf.ErrorMessage(), "not reachable in this region") {
			t.Fatalf("function of another region: %v", err)
		}
	})
	t.Run("qualifier in the name and the query disagree", func(t *testing.T) {
		_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn:1"), Qualifier: aws.String("2")})
		var ipv *types.InvalidParameterValueException
		if !errors.As(err, &ipv) {
			t.Fatalf("conflicting qualifiers: %v", err)
		}
	})
	t.Run("malformed function name", func(t *testing.T) {
		_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("no spaces allowed")})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" {
			t.Fatalf("malformed name: %v", err)
		}
	})
	t.Run("invalid JSON", func(t *testing.T) {
		_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`{"op":`)})
		var irc *types.InvalidRequestContentException
		if !errors.As(err, &irc) || !strings.Contains(irc.ErrorMessage(), "Could not parse request body into json") {
			t.Fatalf("invalid JSON: %v", err)
		}
	})
	t.Run("request too large", func(t *testing.T) {
		payload := []byte(`"` + strings.Repeat("a", 6<<20) + `"`)
		_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: payload})
		var rtl *types.RequestTooLargeException
		if !errors.As(err, &rtl) || !strings.Contains(rtl.ErrorMessage(), "6291456 bytes") {
			t.Fatalf("oversize payload: %v", err)
		}
	})
	t.Run("throttled", func(t *testing.T) {
		var wg sync.WaitGroup
		var slow *lambda.InvokeOutput
		var slowErr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			slow, slowErr = c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("one"), Payload: []byte(`{"op":"sleep","ms":3000}`)})
		}()
		testutil.Eventually(t, 10*time.Second, "the first invocation to be running", func() bool {
			st, _ := n.Server.Pools().StatsOf(pool.Key{Function: "one", Version: "1"})
			return st.Busy == 1
		})
		_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("one"), Payload: []byte(`{"op":"echo"}`)})
		var tmr *types.TooManyRequestsException
		if !errors.As(err, &tmr) || tmr.Reason != types.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded ||
			aws.ToString(tmr.RetryAfterSeconds) == "" || tmr.ErrorMessage() != "Rate Exceeded." {
			t.Fatalf("second invocation: %v", err)
		}
		wg.Wait()
		if slowErr != nil || slow.FunctionError != nil {
			t.Fatalf("first invocation: %v", slowErr)
		}
	})
	t.Run("get and list functions", func(t *testing.T) {
		got, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")})
		if err != nil {
			t.Fatal(err)
		}
		fc := got.Configuration
		if aws.ToString(fc.FunctionName) != "fn" || aws.ToString(fc.Version) != "$LATEST" || aws.ToInt32(fc.Timeout) != 1 ||
			aws.ToInt32(fc.MemorySize) == 0 || aws.ToString(fc.FunctionArn) != "arn:aws:lambda:us-east-1:000000000000:function:fn" ||
			fc.Runtime != "wasm" || fc.Environment == nil || fc.Environment.Variables["GREETING"] != "hello" {
			t.Fatalf("configuration %+v", fc)
		}
		v1, err := c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("fn"), Qualifier: aws.String("1")})
		if err != nil || aws.ToString(v1.Version) != "1" || aws.ToString(v1.FunctionArn) != "arn:aws:lambda:us-east-1:000000000000:function:fn:1" ||
			v1.Environment.Variables["GREETING"] != "hi" {
			t.Fatalf("version 1: %+v %v", v1, err)
		}
		one, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("one")})
		if err != nil || one.Concurrency == nil || aws.ToInt32(one.Concurrency.ReservedConcurrentExecutions) != 1 {
			t.Fatalf("function one: %+v %v", one, err)
		}
		_, err = c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("nope")})
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) {
			t.Fatalf("get unknown function: %v", err)
		}

		var names []string
		p := lambda.NewListFunctionsPaginator(c, &lambda.ListFunctionsInput{MaxItems: aws.Int32(1)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Functions) != 1 {
				t.Fatalf("page of %d functions", len(page.Functions))
			}
			names = append(names, aws.ToString(page.Functions[0].FunctionName))
		}
		if strings.Join(names, ",") != "fn,one" {
			t.Fatalf("listed %v", names)
		}
	})
}

// TestErrorShape checks the wire form of errors for clients other than the
// Go SDK (the AWS CLI, other SDKs) and that every answer has a request id.
func TestErrorShape(t *testing.T) {
	n := testutil.StartServer(t)
	resp, body := n.Do(http.MethodPost, "/2015-03-31/functions/nope/invocations", []byte(`{}`), nil)
	var e map[string]string
	if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != 404 ||
		resp.Header.Get("X-Amzn-ErrorType") != "ResourceNotFoundException" || resp.Header.Get("X-Amzn-RequestId") == "" ||
		e["Type"] != "User" || e["Message"] != "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope" {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, body)
	}
	resp, body = n.Do(http.MethodDelete, "/2015-03-31/functions/nope", nil, nil)
	if resp.StatusCode != 404 || resp.Header.Get("X-Amzn-ErrorType") != "UnknownOperationException" || resp.Header.Get("X-Amzn-RequestId") == "" {
		t.Fatalf("unknown operation: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	resp, body = n.Get("/2015-03-31/functions/")
	if resp.StatusCode != 200 || string(body) != `{"Functions":[]}` || resp.Header.Get("X-Amzn-RequestId") == "" {
		t.Fatalf("empty list: %d %s", resp.StatusCode, body)
	}
}

func TestSignatureV4(t *testing.T) {
	const keyID, secret = "AKIDGUREUMTEST", "s3cr3t/with+chars"
	n := testutil.StartServer(t, func(c *config.Config) {
		c.AccessKeyID = keyID
		c.SecretAccessKey = secret
	})
	n.Deploy(project(t, `
  fn:
    build: BUILD
`))
	ctx := context.Background()

	out, err := client(n, keyID, secret).Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String("fn"), Qualifier: aws.String("$LATEST"), Payload: []byte(`{"op":"echo","msg":"signed"}`),
	})
	if err != nil || !strings.Contains(string(out.Payload), `"msg":"signed"`) {
		t.Fatalf("correct credentials: %v", err)
	}
	if _, err := client(n, keyID, secret).ListFunctions(ctx, &lambda.ListFunctionsInput{}); err != nil {
		t.Fatalf("list with correct credentials: %v", err)
	}

	var ae smithy.APIError
	_, err = client(n, keyID, "wrong").Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`{}`)})
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidSignatureException" ||
		!strings.HasPrefix(ae.ErrorMessage(), "The request signature we calculated does not match the signature you provided.") {
		t.Fatalf("wrong secret: %v", err)
	}
	_, err = client(n, "AKIDUNKNOWN", secret).Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`{}`)})
	if !errors.As(err, &ae) || ae.ErrorCode() != "UnrecognizedClientException" ||
		ae.ErrorMessage() != "The security token included in the request is invalid." {
		t.Fatalf("unknown key: %v", err)
	}

	resp, body := n.Do(http.MethodPost, "/2015-03-31/functions/fn/invocations", []byte(`{}`), nil)
	if resp.StatusCode != 403 || resp.Header.Get("X-Amzn-ErrorType") != "MissingAuthenticationTokenException" {
		t.Fatalf("unsigned request: %d %s", resp.StatusCode, body)
	}
}

// TestAWSCLI drives the node with the AWS CLI, when it is installed: its
// signer (botocore) and its error handling must accept the node's answers.
func TestAWSCLI(t *testing.T) {
	cli, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("the AWS CLI is not installed")
	}
	const keyID, secret = "AKIDGUREUMCLI", "cli/secret+key"
	n := testutil.StartServer(t, func(c *config.Config) {
		c.AccessKeyID = keyID
		c.SecretAccessKey = secret
	})
	n.Deploy(project(t, `
  fn:
    build: BUILD
`))
	dir := t.TempDir()
	run := func(secret string, args ...string) (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, cli, append([]string{"--endpoint-url", n.URL, "--output", "json"}, args...)...)
		cmd.Dir = dir
		cmd.Env = []string{
			"PATH=" + os.Getenv("PATH"),
			"HOME=" + dir,
			"AWS_ACCESS_KEY_ID=" + keyID,
			"AWS_SECRET_ACCESS_KEY=" + secret,
			"AWS_DEFAULT_REGION=us-east-1",
			"AWS_CONFIG_FILE=" + filepath.Join(dir, "none"),
			"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "none"),
			"AWS_EC2_METADATA_DISABLED=true",
			"AWS_PAGER=",
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := run(secret, "lambda", "invoke", "--function-name", "arn:aws:lambda:us-east-1:000000000000:function:fn",
		"--qualifier", "$LATEST", "--log-type", "Tail", "--payload", `{"op":"echo","msg":"from the cli"}`, "result.json")
	if err != nil {
		t.Fatalf("aws lambda invoke: %v\n%s", err, out)
	}
	var meta struct {
		StatusCode      int
		ExecutedVersion string
		LogResult       string
	}
	if err := json.Unmarshal([]byte(out), &meta); err != nil || meta.StatusCode != 200 || meta.ExecutedVersion != "1" {
		t.Fatalf("invoke output: %s", out)
	}
	if log, _ := base64.StdEncoding.DecodeString(meta.LogResult); !strings.Contains(string(log), "echo from the cli") {
		t.Fatalf("log result: %s", log)
	}
	if result, _ := os.ReadFile(filepath.Join(dir, "result.json")); !strings.Contains(string(result), `"msg":"from the cli"`) {
		t.Fatalf("result: %s", result)
	}
	if out, err := run(secret, "lambda", "list-functions"); err != nil || !strings.Contains(out, `"FunctionName": "fn"`) {
		t.Fatalf("aws lambda list-functions: %v\n%s", err, out)
	}
	if out, err := run(secret, "lambda", "get-function", "--function-name", "fn"); err != nil || !strings.Contains(out, `"Version": "$LATEST"`) {
		t.Fatalf("aws lambda get-function: %v\n%s", err, out)
	}
	if out, err := run(secret, "lambda", "invoke", "--function-name", "nope", "result.json"); err == nil || !strings.Contains(out, "ResourceNotFoundException") {
		t.Fatalf("invoke of an unknown function: %v\n%s", err, out)
	}
	if out, err := run("wrong", "lambda", "invoke", "--function-name", "fn", "result.json"); err == nil || !strings.Contains(out, "InvalidSignatureException") {
		t.Fatalf("invoke with a wrong secret: %v\n%s", err, out)
	}
}
