"""Internal HTTP API of the fulfillment service (transport only; reached through the mesh)."""
