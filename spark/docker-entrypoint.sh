#!/bin/sh
# Starts the job (or, given `spark-class ...`, a Spark daemon) as the owner of the ./data mount
# (on Linux: the host user who cloned the repo), never as root, so the output, checkpoints and Ivy
# cache stay writable and deletable by that user (`make clean`) without chmod. When the mount
# belongs to root (no bind mount, or a Docker Desktop that maps owners to root), the image's spark
# user (uid 185) takes the folders over.
set -eu
owner=$(stat -c %u:%g /app/data)
uid=${owner%%:*}
gid=${owner#*:}
if [ "$uid" = 0 ]; then
  uid=185 gid=185
  chown -R "$uid:$gid" /app/data /app/ivy
fi

# The JDK's Unix login (and so Spark's) fails on a uid without a passwd entry ("invalid null
# input: name"), before SPARK_USER is read: give the host's uid a name, and its gid a group.
getent group "$gid" >/dev/null || echo "spark-job:x:$gid:" >>/etc/group
getent passwd "$uid" >/dev/null || echo "spark-job:x:$uid:$gid:Spark job:/tmp:/usr/sbin/nologin" >>/etc/passwd

# Spark writes artifacts/ (and spark-warehouse/) into its working directory: one of the user's own.
workdir=/tmp/spark-job
mkdir -p "$workdir"
chown "$uid:$gid" "$workdir"
cd "$workdir"

# `spark-class CLASS ARGS`: a Spark daemon (docker-compose.cluster.yml's master and workers) as the
# same user, so that the executors a worker starts can write into the job's checkpoint.
if [ "${1:-}" = spark-class ]; then
  shift
  export SPARK_WORKER_DIR="${SPARK_WORKER_DIR:-$workdir/work}"
  exec gosu "$uid:$gid" /opt/spark/bin/spark-class "$@"
fi
exec gosu "$uid:$gid" python3 -m tickets_job "$@"
