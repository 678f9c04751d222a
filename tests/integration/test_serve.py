"""The first README command's last step, ``flask --app wsgi serve``, end to end:
a real gunicorn on a free port, on a fresh SQLite file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_migrates_seeds_prints_accounts_and_answers(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "PAVILION_VAR_DIR": str(tmp_path / "var"),
        "PAVILION_ENV": "development",
        "WEB_CONCURRENCY": "2",
    }
    env.pop("DATABASE_URL", None)
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "serve"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/healthz", timeout=10).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass  # still starting (slowly, on a busy machine)
            assert process.poll() is None, log.read_text()
            time.sleep(0.5)
        else:
            raise AssertionError(f"serve did not answer:\n{log.read_text()}")
        categories = requests.get(f"{base}/api/v1/categories?lang=zh", timeout=30).json()
        assert len(categories["items"]) == 11
        products = requests.get(f"{base}/api/v1/products?currency=RUB", timeout=30).json()
        assert products["total"] >= 110
        output = log.read_text()
        assert f"SCO Pavilion on {base}" in output
        assert "token pvm_" in output
        assert "password" in output
        assert (tmp_path / "var" / "pavilion.db").exists()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
