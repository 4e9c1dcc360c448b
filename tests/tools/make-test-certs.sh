#!/usr/bin/env bash
# Makes throwaway certificates for the mTLS tests in DIR:
#   ca.pem / ca.key          the CA that signs the node's and the trusted client's certificates
#   node.pem / node.key      the node's certificate (SAN: IP 127.0.0.1, DNS localhost)
#   client.pem / client.key  a client certificate signed by ca.pem
#   rogue-ca.pem, rogue.pem / rogue.key
#                            a client certificate from another CA, which the node must refuse
#   expired.pem / expired.key  a client certificate signed by ca.pem that expired yesterday
#   api.pem / api.key        a server certificate for api.example.com (TLS routing tests)
#   wild.pem / wild.key      a server certificate for *.example.org
set -euo pipefail
dir=${1:?usage: make-test-certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
quiet() { "$@" >/dev/null 2>&1 || { echo "make-test-certs.sh: failed: $*" >&2; exit 1; }; }

make_ca() {  # name subject
  quiet openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=$2" \
    -keyout "$1.key" -out "$1.pem"
}
make_cert() {  # name subject ca extensions [days]
  quiet openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$2" -keyout "$1.key" -out "$1.csr"
  printf '%s\n' "$4" >"$1.ext"
  quiet openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days "${5:-2}" \
    -extfile "$1.ext" -out "$1.pem"
  rm -f "$1.csr" "$1.ext"
}

make_ca ca "plby test CA"
make_ca rogue-ca "some other CA"
make_cert node "plby node" ca "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
make_cert client "plbyctl" ca "extendedKeyUsage=clientAuth"
make_cert rogue "intruder" rogue-ca "extendedKeyUsage=clientAuth"
make_cert expired "old plbyctl" ca "extendedKeyUsage=clientAuth" -1
make_cert api "api.example.com" ca "subjectAltName=DNS:api.example.com
extendedKeyUsage=serverAuth"
make_cert wild "wildcard example.org" ca "subjectAltName=DNS:*.example.org
extendedKeyUsage=serverAuth"
