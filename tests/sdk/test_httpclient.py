"""httpx is imported without its command-line client, which still works when called."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_httpx_comes_without_its_cli_until_the_cli_is_called() -> None:
    code = textwrap.dedent(
        """
        import sys
        from modelbay.sdk.httpclient import httpx_module
        httpx = httpx_module()
        assert httpx.Client is not None
        heavy = [m for m in ("click", "pygments.lexers", "rich.console") if m in sys.modules]
        assert heavy == [], heavy
        try:
            httpx.main(["--help"])
        except SystemExit as exc:
            assert exc.code == 0
        assert "click" in sys.modules
        assert hasattr(sys.modules["httpx._main"], "print_help")  # the real module now
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")
