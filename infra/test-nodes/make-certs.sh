#!/usr/bin/env bash
# Makes a throwaway CA, one server certificate per test node (for its loopback address) and one client
# certificate, for Docker's mutual TLS. Existing files are kept, so a second run changes nothing.
set -euo pipefail
DIR="$1"; COUNT="$2"; IP_BASE="$3"
mkdir -p "$DIR"; cd "$DIR"
if [ ! -f ca.pem ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=tianqi-test-ca" -keyout ca-key.pem -out ca.pem 2>/dev/null
fi
sign() { # name subject extfile
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$1-key.pem" -out "$1.csr" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 -extfile "$3" -out "$1-cert.pem" 2>/dev/null
  rm -f "$1.csr" "$3"
}
if [ ! -f client-cert.pem ]; then
  echo "extendedKeyUsage = clientAuth" >client.ext
  sign client tianqi-client client.ext
fi
for i in $(seq 1 "$COUNT"); do
  [ -f "node$i-cert.pem" ] && continue
  printf 'subjectAltName = IP:127.0.0.%s,DNS:localhost\nextendedKeyUsage = serverAuth\n' "$((IP_BASE + i))" >"node$i.ext"
  sign "node$i" "node$i" "node$i.ext"
done
chmod 600 ./*-key.pem
