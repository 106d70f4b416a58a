"""gunicorn settings shared by the three services (everything from the env)."""

import os

workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "1"))
# sync: one request per worker, and the connection closed after each response, so a sidecar
# (or NGINX) opens a new loopback connection per request. gthread keeps connections but hands
# each request to a thread; measured behind the mesh it won no latency (ADR 0103), so sync
# stays the default and WEB_WORKER_CLASS=gthread is there to measure it again.
worker_class = os.environ.get("WEB_WORKER_CLASS", "sync")
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 10
# Idle keep-alive connections live this long (gthread only: sync workers close after each
# response). Longer than the sidecar's idle_timeout to the app (deploy/envoy), so Envoy is
# the side that closes an idle connection, never racing a request onto one gunicorn closed.
keepalive = 30
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "0"))
accesslog = None  # the edge logs requests (JSON, with the request id)
errorlog = "-"
proc_name = os.environ.get("SERVICE", "flashsale")
# gunicorn 27 opens a control socket at one fixed path per user; several masters on one
# host (one per service and instance) would fight over it.
control_socket_disable = True


def child_exit(server, worker):
    # Prometheus multi-process mode: drop the dead worker's live gauges.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
