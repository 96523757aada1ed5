#!/usr/bin/env bash
# certs.sh DIR : a throw-away CA and certificates for a secured local broker (KAFKA_SECURITY_DIR).
#
#   DIR/ca.pem               the CA certificate clients trust (KAFKA_SSL_CAFILE)
#   DIR/broker.pem           the broker's unencrypted PKCS#8 key and certificate in one file (Kafka),
#   DIR/broker.key/.crt      and the same two apart (Redpanda); named for BROKER_NAMES (host names,
#                            default localhost; no IP address: a client dialling 127.0.0.1 must fail
#                            its hostname check)
#   DIR/client.pem/.key      a client certificate and key signed by the CA (mutual TLS)
#   DIR/stranger-ca.pem      a CA that signed nothing here (a client trusting it must refuse the broker)
# Existing files are kept; the keys never leave DIR.
set -euo pipefail
dir=${1:?usage: certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
[ -f broker.pem ] && exit 0
umask 077

ca() {  # ca NAME : a self-signed CA, NAME.pem and NAME.key
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=$1" -keyout "$1.key" -out "$1.pem" 2>/dev/null
}
signed() {  # signed NAME CN EXTENSIONS : NAME.key and NAME.crt signed by ca
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
    -extfile <(printf '%s\n' "$3") -out "$1.crt" 2>/dev/null
  rm "$1.csr"
}

ca ca
ca stranger-ca
rm stranger-ca.key
names=${BROKER_NAMES:-localhost}
signed broker "${names%% *}" "subjectAltName=$(printf 'DNS:%s,' $names | sed 's/,$//')
extendedKeyUsage=serverAuth,clientAuth"
cat broker.key broker.crt >broker.pem
chmod 644 broker.crt
signed client tickets-client "extendedKeyUsage=clientAuth"
mv client.crt client.pem
chmod 644 ca.pem stranger-ca.pem client.pem
echo "certs.sh: CA and certificates in $dir" >&2
