"""scripts/find-python310.sh, the Makefile's choice of interpreter: a system Python 3.10 first,
uv's managed CPython 3.10 when there is none, one clear error when neither works. The network
is never used: a fake uv stands in for the real one."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "find-python310.sh"


def _executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def _fake_python(path: Path, version: str) -> Path:
    """An interpreter that answers the script's version probe as Python ``version`` would."""
    major_minor = tuple(int(x) for x in version.split(".")[:2])
    ok = major_minor == (3, 10)
    return _executable(path, "#!/bin/sh\n" + ('echo "$0"' if ok else "exit 1") + "\n")


def _fake_uv(bin_dir: Path, managed: Path, install_works: bool) -> Path:
    log = bin_dir / "uv.log"
    body = f"""#!/bin/sh
echo "$@ downloads=$UV_PYTHON_DOWNLOADS" >> {log}
case "$1 $2" in
  "python install")
    {"mkdir -p " + str(managed.parent) + f" && cp {bin_dir}/python-template {managed} && exit 0" if install_works else 'echo "error: dns error: failed to lookup address information" >&2; exit 2'} ;;
  "python find")
    [ -x {managed} ] && echo {managed} && exit 0; exit 2 ;;
esac
exit 3
"""
    _fake_python(bin_dir / "python-template", "3.10.19")
    return _executable(bin_dir / "uv", body)


def _run(tmp_path: Path, path_dirs: list[Path], uv: str = "uv"):
    # The machine's own Python 3.10, if any, stays out of sight (PATH holds the fakes and the two
    # tools the fake uv uses, not /usr/bin; the fixed places point nowhere): only the fakes exist.
    tools = tmp_path / "tools"
    tools.mkdir(exist_ok=True)
    for tool in ("mkdir", "cp"):
        if not (tools / tool).exists():
            (tools / tool).symlink_to(shutil.which(tool))
    env = {
        "PATH": os.pathsep.join([*map(str, path_dirs), str(tools)]),
        "HOME": str(tmp_path / "home"),
        "PYTHON310_SYSTEM_PLACES": str(tmp_path / "no-system-python3.10"),
    }
    return subprocess.run([shutil.which("bash"), str(SCRIPT), uv], capture_output=True, text=True, env=env, timeout=60)


def test_without_a_system_python_310_uv_installs_its_managed_one(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    managed = tmp_path / "uv-python" / "cpython-3.10.19" / "bin" / "python3.10"
    _fake_uv(bin_dir, managed, install_works=True)
    out = _run(tmp_path, [bin_dir])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(managed)
    assert "installing uv's managed CPython 3.10" in out.stderr and f"Using uv's managed CPython 3.10: {managed}" in out.stderr
    calls = (bin_dir / "uv.log").read_text().splitlines()
    assert calls[0] == "python install 3.10 downloads=automatic"  # the one download the Makefile allows


def test_without_network_the_error_says_what_to_do(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_uv(bin_dir, tmp_path / "never" / "python3.10", install_works=False)
    out = _run(tmp_path, [bin_dir])
    assert out.returncode == 1 and out.stdout == ""
    assert "error: Python 3.10 not found, and uv could not install its managed CPython 3.10 (no network" in out.stderr
    assert "pyenv install 3.10.13" in out.stderr and "PYTHON310=/path/to/python3.10" in out.stderr


def test_without_uv_either_the_error_names_it(tmp_path):
    out = _run(tmp_path, [], uv=str(tmp_path / "no-uv"))
    assert out.returncode == 1 and "uv (" in out.stderr and "is not available" in out.stderr


def test_a_system_python_310_comes_first_and_uv_is_not_asked(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_uv(bin_dir, tmp_path / "managed" / "python3.10", install_works=True)
    _fake_python(bin_dir / "python3.10", "3.10.13")
    out = _run(tmp_path, [bin_dir])
    assert out.returncode == 0 and out.stdout.strip() == str(bin_dir / "python3.10")
    assert not (bin_dir / "uv.log").exists()


def test_a_python_that_is_not_310_is_passed_over(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_python(bin_dir / "python3.10", "3.11.7")  # misnamed
    _fake_uv(bin_dir, tmp_path / "managed" / "python3.10", install_works=True)
    out = _run(tmp_path, [bin_dir])
    assert out.stdout.strip() == str(tmp_path / "managed" / "python3.10")


def test_on_this_machine_pyenvs_310_is_found(tmp_path):
    out = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    version = subprocess.run(
        [out.stdout.strip(), "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True
    )
    assert version.stdout.strip() == "(3, 10)"
    assert sys.version_info[:2] == (3, 10)  # the suite itself runs on it
