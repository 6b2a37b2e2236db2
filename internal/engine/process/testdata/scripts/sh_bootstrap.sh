#!/bin/sh
# A Lambda function in POSIX sh; curl is its Runtime API client.
set -eu
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation"
tmp=$(mktemp -d)
echo "sh init in $(pwd)"
while :; do
	curl -sS -D "$tmp/headers" -o "$tmp/event" "$api/next"
	id=$(sed -n 's/^[Ll]ambda-[Rr]untime-[Aa]ws-[Rr]equest-[Ii]d: *//p' "$tmp/headers" | tr -d '\r')
	echo "sh handling $id"
	printf '{"shell":true,"event":%s}' "$(cat "$tmp/event")" >"$tmp/out"
	curl -sS -o /dev/null -X POST --data-binary @"$tmp/out" "$api/$id/response"
done
