"""gunicorn settings shared by the three services (sync workers; everything from the env)."""

import os

workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "1"))
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 10
keepalive = 30  # NGINX keeps upstream connections open
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
