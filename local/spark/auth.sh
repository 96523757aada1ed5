#!/usr/bin/env bash
# auth.sh FILE : the Spark properties that lock a standalone cluster, with a new random secret,
# written to FILE unless it exists. The master, the workers and every application's driver read
# the same file (the daemons with --properties-file, the job through SPARK_PROPERTIES_FILE):
#   - spark.authenticate: every RPC connection (an application registering with the master,
#     executors and driver, the workers) proves it knows the shared secret;
#   - spark.network.crypto.enabled: and is encrypted (AES);
#   - spark.ui.killEnabled false: no kill links in the master's and the job's web UIs.
# The file is 0644 (`make` keeps it in the 0700 ./secrets, as a Docker secret the containers' users
# read) or 0600 (MODE=600, the local cluster's, read by its owner only). The secret is never in a
# command line.
set -euo pipefail
file=${1:?usage: auth.sh FILE}
[ -s "$file" ] && exit 0
mkdir -p "$(dirname "$file")"
umask 077
secret=$(openssl rand -hex 24)
cat >"$file" <<PROPERTIES
spark.authenticate true
spark.authenticate.secret $secret
spark.network.crypto.enabled true
spark.ui.killEnabled false
PROPERTIES
chmod "${MODE:-600}" "$file"
echo "local/spark/auth.sh: made $file" >&2
