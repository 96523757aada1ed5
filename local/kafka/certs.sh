#!/usr/bin/env bash
# certs.sh [--renew] DIR : a private CA and certificates for a secured broker (KAFKA_SECURITY_DIR, and
# the secured Docker stack's certs volume).
#
#   DIR/ca.pem               the CA certificate clients trust (KAFKA_SSL_CAFILE)
#   DIR/broker.pem           the broker's unencrypted PKCS#8 key and certificate in one file (Kafka),
#   DIR/broker.key/.crt      and the same two apart (Redpanda); named for BROKER_NAMES (host names,
#                            default localhost; no IP address: a client dialling 127.0.0.1 must fail
#                            its hostname check). It serves TLS and is the nodes' own client
#                            certificate on the controller listener.
#   DIR/client.pem/.key      a client certificate and key signed by the CA (mutual TLS)
#   DIR/stranger-ca.pem      a CA that signed nothing here (a client trusting it must refuse the broker)
#
# Certificates carry what strict X.509 verification asks for (Python 3.13's default, browsers'):
# the CA's basicConstraints and keyUsage, critical, its subject key identifier; each leaf's keyUsage,
# extendedKeyUsage and authority key identifier. The CA lasts CA_DAYS (3650), the others CERT_DAYS
# (825). The files are kept while the broker's certificate has more than RENEW_DAYS (30) to live;
# then, or with --renew, every file is made again, the CA included (its key may not have been kept).
# A broker or client that runs keeps the old ones until it restarts. The keys never leave DIR.
set -euo pipefail
renew=false
if [ "${1:-}" = --renew ]; then renew=true; shift; fi
dir=${1:?usage: certs.sh [--renew] DIR}
ca_days=${CA_DAYS:-3650} cert_days=${CERT_DAYS:-825} renew_days=${RENEW_DAYS:-30}
umask 077  # the folder and every file in it: the keys are for this user only
mkdir -p "$dir"
cd "$dir"
if [ "$renew" = false ] && [ -f broker.pem ]; then
  if openssl x509 -in broker.crt -noout -checkend $((renew_days * 86400)) >/dev/null; then
    exit 0
  fi
  echo "certs.sh: the broker's certificate in $dir expires within $renew_days days: making new ones" >&2
fi

ca() {  # ca NAME : a self-signed CA, NAME.pem and NAME.key
  openssl req -x509 -newkey rsa:2048 -nodes -days "$ca_days" -subj "/CN=$1" -keyout "$1.key" -out "$1.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" 2>/dev/null
}
signed() {  # signed NAME CN EXTENSIONS : NAME.key and NAME.crt signed by ca
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days "$cert_days" \
    -extfile <(printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
      "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid,issuer" "$3") -out "$1.crt" 2>/dev/null
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
echo "certs.sh: CA and certificates in $dir (the broker's until $(openssl x509 -in broker.crt -noout -enddate | cut -d= -f2))" >&2
