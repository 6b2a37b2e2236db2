#!/bin/sh
# Publishes its Runtime API address and waits: the test drives the API.
echo "api=$AWS_LAMBDA_RUNTIME_API"
exec sleep 600
