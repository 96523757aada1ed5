#!/bin/sh
# Entry point of the secured stack's broker: the bootstrap superuser `admin` gets the password of
# the Docker secret admin_password (never written in the compose file or the environment of the
# host); Redpanda creates that SCRAM user when the cluster is first created, with the cluster
# properties of bootstrap.secured.yaml, which this image carries. Then the image's own entry point
# starts Redpanda with the service's command.
set -eu
cp /etc/redpanda/bootstrap.secured.yaml /etc/redpanda/.bootstrap.yaml
RP_BOOTSTRAP_USER="admin:$(cat /run/secrets/admin_password):SCRAM-SHA-256"
export RP_BOOTSTRAP_USER
exec /entrypoint.sh "$@"
