"""gunicorn settings shared by the three services (everything from the env)."""

import os

workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "1"))
# Fulfillment's app is called only through its Envoy sidecar, which keeps its connections to
# the app open: a sync worker closes every connection after one response, so each mesh call
# paid a new TCP connection (Envoy's upstream_cx_total == upstream_rq_total). gthread keeps
# them (keepalive below); one thread per worker keeps one request at a time per worker, as
# sync did. catalog and order stay sync until measured otherwise (ADR 0103).
_WORKER_CLASS = {"fulfillment": "gthread"}
worker_class = os.environ.get("WEB_WORKER_CLASS") or _WORKER_CLASS.get(
    os.environ.get("SERVICE", ""), "sync"
)
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
