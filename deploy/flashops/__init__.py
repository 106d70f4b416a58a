"""The platform's ops code, one importable package (installed by pyproject.toml).

- :mod:`flashops.defaults`: the one table of local defaults (ports, sizes, connections)
- :mod:`flashops.platform`: ``bin/platform`` (set-up, render, up/down, ctl)
- :mod:`flashops.edgemesh`, :mod:`flashops.observability`: NGINX, Envoy and Prometheus
  configuration rendered from deploy/'s templates
- :mod:`flashops.pki`: the mesh CA and short-lived certificates (``bin/mesh-certs``)
- :mod:`flashops.processes`: free ports, child processes, private Redis / RabbitMQ

It runs from a checkout (it renders deploy/'s templates and reads deploy/Procfile); the
application image does not contain it (Dockerfile, tests/system/test_image_install.py).
"""
