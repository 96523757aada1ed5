#!/bin/sh
# The stand-in's version of the official image's start: the variables the lake form sets, written
# to a properties file (0600, so that no secret is on java's command line), then S3Proxy.
mkdir -p "${JCLOUDS_FILESYSTEM_BASEDIR}"
umask 077
PROPERTIES_FILE=/tmp/s3proxy.properties
awk 'function prop(key, var) { print key "=" ENVIRON[var] }
BEGIN {
    prop("s3proxy.endpoint", "S3PROXY_ENDPOINT")
    prop("s3proxy.authorization", "S3PROXY_AUTHORIZATION")
    prop("s3proxy.identity", "S3PROXY_IDENTITY")
    prop("s3proxy.credential", "S3PROXY_CREDENTIAL")
    prop("jclouds.provider", "JCLOUDS_PROVIDER")
    prop("jclouds.identity", "JCLOUDS_IDENTITY")
    prop("jclouds.credential", "JCLOUDS_CREDENTIAL")
    prop("jclouds.filesystem.basedir", "JCLOUDS_FILESYSTEM_BASEDIR")
}' > "$PROPERTIES_FILE"
exec java -XX:MaxRAMPercentage=75 -DLOG_LEVEL="${LOG_LEVEL}" -jar /opt/s3proxy/s3proxy --properties "$PROPERTIES_FILE"
