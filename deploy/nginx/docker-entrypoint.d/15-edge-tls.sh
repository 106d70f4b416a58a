#!/bin/sh
# nginx image start-up step (runs before 20-envsubst-on-templates.sh): make sure the edge has
# a TLS certificate at $EDGE_TLS_CERT / $EDGE_TLS_KEY. An operator's real certificate mounted
# there is used as is; otherwise a self-signed one for localhost is made once (the local
# runner uses bin/mesh-certs edge-tls instead). docs/edge-and-mesh.md.
set -eu
cert=${EDGE_TLS_CERT:?}
key=${EDGE_TLS_KEY:?}
if [ -s "$cert" ] && [ -s "$key" ]; then
  echo "edge-tls: using $cert"
  exit 0
fi
mkdir -p "$(dirname "$cert")" "$(dirname "$key")"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 90 \
  -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$key" -out "$cert" 2>/dev/null
chmod 600 "$key"
echo "edge-tls: made a self-signed certificate for localhost at $cert"
