#!/bin/sh
# Write the mesh policy into Consul and register the services (run once the server is up;
# docker-compose runs it as the `consul-config` one-shot service). Idempotent.
#   CONSUL_HTTP_ADDR=http://consul:8500 deploy/consul/apply.sh
set -eu
cd "$(dirname "$0")"
until consul members >/dev/null 2>&1; do echo "waiting for consul ..."; sleep 1; done
for entry in config/proxy-defaults.json config/service-defaults-*.json \
             config/service-router-*.json config/service-intentions-*.json; do
  consul config write "$entry"
  echo "wrote $entry"
done
for service in services/*.json; do
  consul services register "$service"
  echo "registered $service"
done
echo "consul: mesh policy applied"
