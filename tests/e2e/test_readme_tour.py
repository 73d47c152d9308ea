"""The README's tour, run as written with bash and curl against a real `ordinaut up`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
README = Path(__file__).resolve().parents[2] / "README.md"


def tour_script(port: int, token: str) -> str:
    """The bash blocks between the tour heading and the production section."""
    text = README.read_text()
    tour = text[text.index("## A five-minute tour") : text.index("## Production")]
    blocks = re.findall(r"```bash\n(.*?)```", tour, flags=re.S)
    script = "\n".join(blocks).replace("http://127.0.0.1:8080", f"http://127.0.0.1:{port}")
    return re.sub(r"export ORDINAUT_TOKEN=ord_\.\.\..*", f"export ORDINAUT_TOKEN={token}", script)


def test_readme_tour_runs_as_written(tmp_path: Path, start_up) -> None:  # type: ignore[no-untyped-def]
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    with start_up(server_dir) as up:
        up.wait_live()
        token = admin_secret_from(up)
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", tour_script(up.port, token)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stderr
    task = json.loads((tmp_path / "task.json").read_text())
    assert task["schedule_kind"] == "cron"
    assert task["timezone"] == "Europe/Chisinau"
    assert '"success":true' in result.stdout.replace(" ", "")
    assert "Hello John" in result.stdout
    assert "shifted" in result.stdout


def admin_secret_from(up) -> str:  # type: ignore[no-untyped-def]
    """The secret `ordinaut up` printed on first start (read while it keeps running)."""
    assert up.proc.stdout is not None
    for line in up.proc.stdout:
        found = re.search(r"ORDINAUT_TOKEN=(ord_\S+)", line)
        if found:
            return found.group(1)
    raise AssertionError("no admin secret printed")
