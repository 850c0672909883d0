"""An upload's body handed straight to the code that stores it, as the parser reads it.

uvicorn hands a request body to the app through ASGI ``receive()``: each socket read (up to
256 KiB) is appended to a buffer, reading pauses, and ``receive()`` copies the buffer out and
resumes reading, one event-loop round trip per read. For a large upload that is two extra
copies of every byte and thousands of rounds; the figure that needs less is the cold 1 GiB
upload of ``bench/artifacts.py`` (``COLD_UPLOAD_VS_BASELINE``).

The server's protocol (server/protocol.py) puts an installer under :data:`EXTENSION` in each
request's scope ``extensions``. :func:`receive_into` installs a :class:`Sink` through it: the
bytes received so far go to the sink at once, and each later body piece as the parser
delivers it, in the event loop; ``receive()`` then only reports the end of the body. Under
another server (or protocol) the body goes through ``receive()`` as usual.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import ClientDisconnect, Request

#: The scope extension under which a route finds the protocol's sink installer.
EXTENSION = "modelbay.body_sink"


class Sink:
    """Gives body pieces to ``write``; the first error it raises is kept (and nothing more is
    written), to be raised once the body has ended: a parser callback must not raise
    (uvicorn would answer 400 and drop the connection)."""

    def __init__(self, write: Callable[[bytes], object]) -> None:
        self.write = write
        self.error: Exception | None = None

    def __call__(self, body: bytes) -> None:
        if self.error is not None:
            return
        try:
            self.write(body)
        except Exception as exc:  # raised by receive_into, after the body
            self.error = exc


async def receive_into(request: Request, write: Callable[[bytes], object]) -> None:
    """Give the request's body to ``write`` piece by piece as it arrives: straight from the
    HTTP parser where the server's protocol offers it, else through the ASGI stream.

    Raises:
        ClientDisconnect: the client left before the body ended.
        Exception: what ``write`` raised first (the rest of the body is read and dropped).
    """
    install = request.scope.get("extensions", {}).get(EXTENSION)
    sink: Sink | None = install(write) if install is not None else None
    if sink is None:
        async for chunk in request.stream():
            write(chunk)
        return
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        if message.get("body"):  # none once the sink is in place; kept in order if any
            sink(message["body"])
        if not message.get("more_body", False):
            break
    if sink.error is not None:
        raise sink.error
