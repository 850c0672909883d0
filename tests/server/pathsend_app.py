"""A stand-in server for test_sendfile.py: uvicorn with modelbay's HTTP protocol, serving the
files of ``--data-dir`` through Starlette's FileResponse and through raw ASGI messages a
real app would not send (a promise the file cannot keep, no length at all).

    python tests/server/pathsend_app.py --host H --port P --data-dir D [--sendfile-loopback]

With ``--sendfile-loopback`` its protocol sends files by sendfile to clients on this host too
(as modelbay's does only to clients on others).

Routes: ``/health``; ``/file/NAME`` (a FileResponse); ``/raw/NAME`` (its length and the path,
whatever the method); ``/short/NAME`` (promises 1,000 bytes more than the file has);
``/unsized/NAME`` (no content-length); ``/seen`` (the ASGI message
types the previous file request sent, and the extensions its scope offered).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import uvicorn
from starlette.responses import FileResponse

from modelbay.server.protocol import PATHSEND, NoDelayHTTPProtocol


class LoopbackSendfile(NoDelayHTTPProtocol):
    sendfile_loopback = True


def make_app(data: Path) -> Any:
    seen: dict[str, Any] = {"types": [], "extensions": []}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path == "/health":
            await _plain(send, b"ok")
            return
        if path == "/seen":
            await _plain(send, json.dumps(seen).encode())
            return
        route, _, name = path.strip("/").partition("/")
        file = data / name
        seen["types"] = types = []
        seen["extensions"] = sorted(scope.get("extensions", {}))

        async def recorded(message: Any) -> None:
            types.append(message["type"])
            await send(message)

        if route == "file":
            await FileResponse(file)(scope, receive, recorded)
        elif route in ("raw", "short", "unsized"):
            headers = [(b"content-type", b"application/octet-stream")]
            if route != "unsized":
                size = os.stat(file).st_size + (1000 if route == "short" else 0)
                headers.append((b"content-length", str(size).encode()))
            await recorded({"type": "http.response.start", "status": 200, "headers": headers})
            await recorded({"type": PATHSEND, "path": str(file)})
        else:
            await _plain(send, b"no such route", 404)

    return app


async def _plain(send: Any, body: bytes, status: int = 200) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--sendfile-loopback", action="store_true")
    args, _ = parser.parse_known_args()
    uvicorn.run(
        make_app(args.data_dir),
        host=args.host,
        port=args.port,
        http=LoopbackSendfile if args.sendfile_loopback else NoDelayHTTPProtocol,
        log_level="warning",
        timeout_graceful_shutdown=2,
    )


if __name__ == "__main__":
    main()
