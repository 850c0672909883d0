"""nginx (Debian's package) as the load balancer in front of server replicas, for tests.

``Nginx(upstreams).start()`` writes a configuration into a fresh directory (its own pid
file, logs and temp paths, so nothing of the system's nginx is touched), runs
``nginx -g 'daemon off;'`` in its own process group on a free loopback port, and returns
once it answers. The access log holds one JSON line per request with the upstream that
answered and its status, the client's User-Agent, and when the request ended (``end``, Unix
seconds) after how long (``duration``), so a test can count what each replica served and
when. ``stop()`` stops it by pid.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from .processes import free_port, stop_process_group, wait_http_ok

_CONFIG = """\
worker_processes 2;
error_log {root}/error.log warn;
pid {root}/nginx.pid;
{user}
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    log_format upstreams escape=json '{{"method":"$request_method","uri":"$request_uri",'
        '"status":"$status","upstream":"$upstream_addr","upstream_status":"$upstream_status",'
        '"agent":"$http_user_agent","end":"$msec","duration":"$request_time"}}';
    access_log {root}/access.log upstreams;
    upstream modelbay {{
{servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 256m;
        location / {{
            proxy_pass http://modelbay;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_next_upstream error timeout;
            proxy_connect_timeout 2s;
            proxy_read_timeout 120s;
            proxy_request_buffering off;
        }}
    }}
}}
"""


def require_nginx() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    if found is None:
        pytest.skip("nginx is not installed (apt-get install nginx)")
    return found


class Nginx:
    """A throwaway nginx balancing round-robin over ``upstreams`` (``host:port`` each)."""

    def __init__(self, upstreams: Sequence[str]) -> None:
        self.binary = require_nginx()
        self.upstreams = list(upstreams)
        self.root = Path(tempfile.mkdtemp(prefix="modelbay-nginx-"))
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        self.port = free_port()
        servers = "\n".join(
            f"        server {u} max_fails=1 fail_timeout=5s;" for u in self.upstreams
        )
        user = "user root;" if os.geteuid() == 0 else ""
        conf = self.root / "nginx.conf"
        conf.write_text(_CONFIG.format(root=self.root, port=self.port, servers=servers, user=user))
        with open(self.root / "stderr.log", "ab") as err:
            self.proc = subprocess.Popen(
                [self.binary, "-p", str(self.root), "-c", str(conf), "-g", "daemon off;"],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_http_ok(self.url + "/health", 20.0, process=self.proc)
        except Exception:
            tail = (self.root / "stderr.log").read_text(errors="replace")[-2000:]
            self.stop()
            raise RuntimeError(f"nginx did not start: {tail}") from None
        return self

    def access_log(self) -> list[dict[str, Any]]:
        """Every request so far, as logged (one dict per request)."""
        path = self.root / "access.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        if self.proc is not None:
            stop_process_group(self.proc, signal.SIGTERM, 10.0)
            self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
