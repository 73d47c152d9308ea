"""Every runnable example of the user docs, run as written with bash and curl against `ordinaut up`.

A document's ```bash blocks run top to bottom in one shell (they build on each other), after a
preamble defining what the docs assume from the README (`API`, `ORDINAUT_TOKEN`). A block
preceded by `<!-- not-run: reason -->` is skipped: it needs something `ordinaut up` lacks.
Every block must exit 0 and see no 5xx; a 4xx must be announced in the block (`# 409`), so an
example that silently fails (a wrong id, a lost token) fails the test too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
DOCS = Path(__file__).resolve().parents[2] / "docs"
DOCUMENTS = ["quickstart.md", "api.md", "events.md", "security.md"]
ADMIN_SECRET = "ord_0123456789abcdef_docs-examples-admin-secret"
DOC_URL = "http://127.0.0.1:8080"
FENCE = re.compile(r"(?:<!-- not-run: (?P<reason>[^>]*?) -->\n)?```bash\n(?P<body>.*?)```", re.S)
MARKER = "@@ block "
STATUS = re.compile(r'"status":\s*(\d{3})\b|^(\d{3})$', re.M)


@dataclass(frozen=True)
class Block:
    line: int  # of its opening fence
    body: str


def runnable_blocks(text: str) -> list[Block]:
    """The ```bash blocks of a document that are meant to run, with their line numbers."""
    return [
        Block(text.count("\n", 0, found.start("body")), found.group("body"))
        for found in FENCE.finditer(text)
        if found.group("reason") is None
    ]


def script(blocks: list[Block], url: str) -> str:
    """One bash script: the preamble, then each block after a marker naming its line."""
    preamble = (
        f"export API={url} ORDINAUT_URL={url} ORDINAUT_TOKEN={ADMIN_SECRET}\n"
        "jq() { echo 'the docs must not need jq: readers may not have it' >&2; return 127; }\n"
    )
    parts = [preamble]
    for block in blocks:
        body = block.body.replace(DOC_URL, url)
        body = re.sub(r"ORDINAUT_TOKEN=ord_\.\.\.", f"ORDINAUT_TOKEN={ADMIN_SECRET}", body)
        mark = f"printf '\\n{MARKER}{block.line}\\n'"
        parts.append(f"{mark}; {mark} >&2\n{body}")
    return "\n".join(parts)


def outputs_by_block(stdout: str) -> dict[int, str]:
    """What each block printed, keyed by the line its body starts on."""
    chunks = re.split(rf"^{MARKER}(\d+)$", stdout, flags=re.M)
    return {int(line): out for line, out in zip(chunks[1::2], chunks[2::2], strict=True)}


def unexpected_statuses(block: Block, output: str) -> list[int]:
    """The 5xx answers a block got, and the 4xx ones its text does not announce."""
    found = {int(a or b) for a, b in STATUS.findall(output)}
    return sorted(s for s in found if s >= 500 or (s >= 400 and str(s) not in block.body))


def last_block(stderr: str) -> str:
    started = re.findall(rf"^{MARKER}(\d+)$", stderr, flags=re.M)
    return started[-1] if started else "(none)"


def run_blocks(blocks: list[Block], url: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script(blocks, url)],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
        pytest.fail(f"the block at line {last_block(stderr)} still runs after 60 s")


@pytest.mark.parametrize("document", DOCUMENTS)
def test_doc_examples_run_as_written(document: str, tmp_path: Path, start_up) -> None:  # type: ignore[no-untyped-def]
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    blocks = runnable_blocks((DOCS / document).read_text())
    assert blocks, f"{document} has no runnable bash block"
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    with start_up(server_dir, ORDINAUT_ADMIN_SECRET=ADMIN_SECRET) as up:
        up.wait_live()
        result = run_blocks(blocks, up.url, tmp_path)
    where = f"{document}: the block at line {last_block(result.stderr)}"
    assert result.returncode == 0, f"{where} failed\n{result.stdout[-3000:]}\n{result.stderr}"
    outputs = outputs_by_block(result.stdout)
    assert sorted(outputs) == [block.line for block in blocks]
    for block in blocks:
        unexpected = unexpected_statuses(block, outputs[block.line])
        assert not unexpected, f"{document}: the block at line {block.line} got {unexpected}"
