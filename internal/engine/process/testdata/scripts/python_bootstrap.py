#!/usr/bin/env python3
"""A Lambda function with its own Runtime API client, standard library only."""
import http.client
import json
import os
import sys


def handler(event, context):
    if event.get("action") == "fail":
        raise ValueError("bad input: %s" % event.get("say"))
    if event.get("action") == "hog":
        hog = bytearray(event["mib"] << 20)
        return {"allocated": len(hog)}
    print("python handling", context["request_id"], flush=True)
    return {
        "say": event.get("say"),
        "requestId": context["request_id"],
        "deadlineMs": context["deadline_ms"],
        "handler": os.environ.get("_HANDLER"),
        "pid": os.getpid(),
    }


def main():
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port))
    base = "/2018-06-01/runtime/invocation/"
    print("python init", flush=True)
    while True:
        conn.request("GET", base + "next")
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            sys.exit("next answered %d" % resp.status)
        rid = resp.getheader("Lambda-Runtime-Aws-Request-Id")
        context = {"request_id": rid, "deadline_ms": int(resp.getheader("Lambda-Runtime-Deadline-Ms"))}
        try:
            out = json.dumps(handler(json.loads(body), context))
            path, headers = base + rid + "/response", {"Content-Type": "application/json"}
        except Exception as e:
            out = json.dumps({"errorMessage": str(e), "errorType": type(e).__name__})
            path, headers = base + rid + "/error", {"Lambda-Runtime-Function-Error-Type": "Unhandled"}
        conn.request("POST", path, body=out.encode(), headers=headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 202:
            sys.exit("post answered %d" % resp.status)


main()
