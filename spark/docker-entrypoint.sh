#!/bin/sh
# Starts the job as the owner of the ./data mount (on Linux: the host user who cloned the repo),
# never as root, so the output, checkpoints and Ivy cache stay writable and deletable by that
# user (`make clean`) without chmod. When the mount belongs to root (no bind mount, or a Docker
# Desktop that maps owners to root), the image's spark user (uid 185) takes the folders over.
set -eu
owner=$(stat -c %u:%g /app/data)
if [ "${owner%%:*}" = 0 ]; then
  owner=185:185
  chown 185:185 /app/data /app/ivy
fi
exec gosu "$owner" python3 /app/spark_streaming.py "$@"
