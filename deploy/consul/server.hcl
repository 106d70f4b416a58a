# Consul server for docker-compose (one node; production runs three). Connect (the service
# mesh) on, gRPC for Envoy's xDS. Default deny comes from config/service-intentions-default-deny
# (`*` -> `*` deny); production also enables ACLs with default_policy "deny".
datacenter = "flashsale"
data_dir   = "/consul/data"
server     = true
bootstrap_expect = 1
client_addr = "0.0.0.0"
ui_config { enabled = true }
connect { enabled = true }
ports {
  grpc = 8502
}
