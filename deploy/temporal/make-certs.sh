#!/bin/sh
# Makes a small PKI for mutual TLS between Temporal and its clients, as docker-compose.yml and `npm run stack` use it:
#
#   deploy/temporal/make-certs.sh DIR [CA_NAME]
#
# DIR/ca.pem                      the CA every party trusts; its key is DIR.ca-key.pem, BESIDE the folder, so it is
#                                 never mounted into a container (keep it offline, or delete it once done)
# DIR/cluster.pem, cluster-key.pem  Temporal server: frontend and internode, server and client use
#                                   (subjectAltName temporal, localhost, 127.0.0.1)
# DIR/ots-handoff.pem, -key.pem   the service's client certificate
# DIR/ui.pem, ui-key.pem          Temporal UI's client certificate
# DIR/admin.pem, admin-key.pem    the namespace job's (temporal CLI) client certificate
#
# Existing files are kept: run it again to fill in what is missing (needs the CA key), delete DIR to start over. The
# leaf keys are readable by all (the containers run as users of their own): guard DIR's parent. For production use
# your own CA and short-lived certificates; this is the shape they must have. Both TLS stacks that check these are
# strict: rustls (the TypeScript SDK's workers) wants a subjectAltName on the server certificate, a CA marked
# basicConstraints CA:TRUE and the matching extendedKeyUsage on each leaf; Go's crypto/tls (the server, the UI)
# wants the same. Layout of temporalio/samples-server tls/tls-simple (one CA, one cluster certificate for the
# frontend and internode, client certificates beside it), made with OpenSSL 3 (POSIX sh).
set -eu

dir="${1:?usage: make-certs.sh DIR [CA_NAME]}"
ca_name="${2:-ots-handoff Temporal CA}"
days="${CERT_DAYS:-365}"
mkdir -p "$dir"
umask 077

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

ca_key="${dir%/}.ca-key.pem"
if [ ! -f "$dir/ca.pem" ]; then
  newkey "$ca_key"
  openssl req -x509 -new -key "$ca_key" -out "$dir/ca.pem" -days "$days" -subj "/CN=$ca_name" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
fi

# leaf NAME COMMON_NAME EXTENDED_KEY_USAGE [SUBJECT_ALT_NAMES]
leaf() {
  [ -f "$dir/$1.pem" ] && return 0
  newkey "$dir/$1-key.pem"
  ext="$dir/$1.ext"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$3"
    [ -n "${4:-}" ] && echo "subjectAltName=$4"
  } >"$ext"
  openssl req -new -key "$dir/$1-key.pem" -subj "/CN=$2" -out "$dir/$1.csr"
  openssl x509 -req -in "$dir/$1.csr" -CA "$dir/ca.pem" -CAkey "$ca_key" -CAcreateserial \
    -days "$days" -extfile "$ext" -out "$dir/$1.pem" 2>/dev/null
  rm -f "$dir/$1.csr" "$ext"
}

leaf cluster temporal serverAuth,clientAuth "DNS:temporal,DNS:localhost,IP:127.0.0.1"
leaf ots-handoff ots-handoff clientAuth
leaf ui temporal-ui clientAuth
leaf admin temporal-admin clientAuth
chmod 755 "$dir"
chmod 644 "$dir"/*.pem
chmod 600 "$ca_key"
echo "certificates in $dir (CA: $ca_name)"
