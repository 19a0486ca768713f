"""The pipeline image for real (`make image`): `s2s run` inside it on the embedded sample, the work
directory mounted from the host, ending in a pushed model that the host's chat client gets replies
from. Skipped, saying why, where no container engine or no up-to-date image is there; `.ci/run`
builds the image first wherever podman or docker can run."""

from __future__ import annotations

import subprocess

import pytest

from common import names
from common.serving_layout import versions
from s2s import cli
from serving import dev_server

from . import containers

TINY = ["--vocab-size", "500", "--embedding-dim", "8", "--units", "16", "--batch-size", "64", "--train-steps", "30",
        "--eval-steps", "2", "--max-len", "8", "--min-accuracy", "0", "--max-top-reply-share", "1"]  # fmt: skip


@pytest.mark.image
def test_s2s_run_in_the_image_pushes_a_model_the_host_answers_from(tmp_path, capsys):
    found = containers.image()
    if isinstance(found, str):
        pytest.skip(found)
    engine, env = found
    work = tmp_path / "artifacts"
    work.mkdir()
    command = [*engine, "run", "--rm", "--network=none", "--entrypoint", "s2s", "-v", f"{work}:/pipeline/artifacts",
               containers.IMAGE, "run", *TINY]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "[8/8] Pusher" in proc.stdout and "s2s run: corpus /pipeline/data/sample" in proc.stdout
    base = work / "serving" / names.MODEL_NAME
    assert versions(base), f"nothing pushed under {base}"
    server = dev_server.start(base, port=0, poll_seconds=60)
    try:
        assert cli.main(["chat", "--server", f"127.0.0.1:{server.port}", "--message", "Where are you going?"]) == 0
    finally:
        server.stop()
    reply = capsys.readouterr().out
    assert reply.startswith("bot> ") and len(reply.strip()) > len("bot>")
    with capsys.disabled():
        print(
            "\nin-image s2s run, last lines:\n"
            + "\n".join(proc.stdout.strip().splitlines()[-6:])
            + f"\nhost chat: {reply.strip()}"
        )
