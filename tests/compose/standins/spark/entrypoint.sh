#!/bin/sh
# The official image's entry point launches Spark on Kubernetes; our image replaces it. Here it
# only runs its arguments.
exec "$@"
