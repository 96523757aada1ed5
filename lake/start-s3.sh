#!/bin/sh
# The lake form's S3 server (docker-compose.lake.yml): S3Proxy's own start, run-docker-container.sh,
# with the key pair of the credentials file the job reads too, and the bucket made first (with the
# filesystem backend a bucket is a folder of the base folder). The pair goes to S3Proxy through its
# environment, which only root reads, never through a command line.
set -eu
credentials=/run/secrets/lake_credentials
S3PROXY_IDENTITY=$(sed -n 's/^aws_access_key_id *= *//p' "$credentials")
S3PROXY_CREDENTIAL=$(sed -n 's/^aws_secret_access_key *= *//p' "$credentials")
if [ -z "$S3PROXY_IDENTITY" ] || [ -z "$S3PROXY_CREDENTIAL" ]; then
  echo "start-s3: no aws_access_key_id and aws_secret_access_key in $credentials (make up-lake makes it)" >&2
  exit 2
fi
export S3PROXY_IDENTITY S3PROXY_CREDENTIAL
mkdir -p "$JCLOUDS_FILESYSTEM_BASEDIR/$LAKE_BUCKET"
exec /opt/s3proxy/run-docker-container.sh
