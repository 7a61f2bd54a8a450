"""The Redis job tracker against a real redis-server.

The port's contract, then what only a shared, networked tracker must show: the seed's
``UPLOAD_STATUS:<id>`` keys as plain Redis sees them, separate processes (connection pools)
sharing the jobs, leases over real time, a group or stream deleted under it, and a server
that dies or hangs.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
import redis

from assets_registry.adapters import redis as redis_plugin
from assets_registry.adapters.redis.jobs import RedisJobTracker
from assets_registry.apps.container import build_container
from assets_registry.apps.settings import load_settings
from assets_registry.apps.workers import BundleWorkers
from assets_registry.core.errors import BackendUnavailable, ConfigurationError, JobNotFound
from assets_registry.core.ports import PROCESSING, QUEUED, SUCCESS, JobTracker, failed
from assets_registry.plugins import AdapterContext, BackendURL
from assets_registry.plugins.manager import Plugins
from assets_registry.testing import bundle_zip
from assets_registry.testing.jobs_contract import JobTrackerContract
from tests.servers import free_port, unavailable
from tests.servers.redis import RedisDatabase, RedisServer

pytestmark = pytest.mark.real_servers

STREAM, GROUP = "assets:uploads", "assets-workers"
MakeTracker = Callable[..., RedisJobTracker]


def tracker_for(url: str) -> RedisJobTracker:
    """The tracker the plugin builds for ``url``, as the registry's container would."""
    return redis_plugin.make_job_tracker(AdapterContext(BackendURL(url), Path("unused")))


@pytest.fixture
def trackers(redis_db: RedisDatabase) -> Iterator[MakeTracker]:
    """Make trackers on this test's database, each with its own connection pool (a process)."""
    made: list[RedisJobTracker] = []

    def make(url: str | None = None, **options: str) -> RedisJobTracker:
        query = urlencode(options)
        made.append(tracker_for((url or redis_db.url) + (f"?{query}" if query else "")))
        return made[-1]

    yield make
    for tracker in made:
        tracker.close()


@pytest.fixture
def plain(redis_db: RedisDatabase) -> Iterator[redis.Redis]:
    """A plain client, as an operator's redis-cli or another program would look at the keys."""
    client = redis.Redis.from_url(redis_db.url, decode_responses=True)
    yield client
    client.close()


class TestRedisJobTracker(JobTrackerContract):
    @pytest.fixture
    def jobs(self, trackers: MakeTracker) -> JobTracker:
        return trackers()


def test_the_plugin_serves_redis_and_rediss_urls_for_jobs() -> None:
    plugins = Plugins.load(entry_points=False, extra=[("redis", redis_plugin)])
    assert plugins.schemes("jobs") == ["redis", "rediss"]
    assert {"prefix", "stream", "group", "ttl"} <= set(plugins.adapter_spec("jobs", "rediss").options)


def test_the_seed_s_status_key_shows_each_status_as_the_job_moves(trackers: MakeTracker, plain: redis.Redis) -> None:
    jobs = trackers()
    jobs.submit("0a5e3de1", "staging/0a5e3de1.zip")
    jobs.submit("7f00aa01", "staging/7f00aa01.zip")
    assert plain.get("UPLOAD_STATUS:0a5e3de1") == QUEUED
    assert jobs.claim("w1", 60) is not None and jobs.claim("w2", 60) is not None
    assert plain.get("UPLOAD_STATUS:0a5e3de1") == PROCESSING
    assert jobs.finish("0a5e3de1", "w1", SUCCESS, asset_id="asset-001")
    assert jobs.finish("7f00aa01", "w2", failed("asset.json is missing"))
    assert plain.get("UPLOAD_STATUS:0a5e3de1") == "success"
    assert plain.get("UPLOAD_STATUS:7f00aa01") == "failed: asset.json is missing"
    assert plain.hget("UPLOAD_JOB:0a5e3de1", "asset_id") == "asset-001"
    assert plain.type("UPLOAD_STATUS:0a5e3de1") == "string"
    assert plain.xlen(STREAM) == 0, "finished jobs leave the queue"
    assert plain.ttl("UPLOAD_STATUS:0a5e3de1") == -1, "kept for ever without the ttl option"


def test_two_processes_claiming_thirty_jobs_take_each_exactly_once(trackers: MakeTracker) -> None:
    first, second = trackers(), trackers()
    assert first.client.connection_pool is not second.client.connection_pool
    for n in range(30):
        (first if n % 2 else second).submit(f"u{n:02}", "s")
    taken: list[tuple[str, str]] = []
    lock = threading.Lock()

    def work(jobs: RedisJobTracker, name: str) -> None:
        while (job := jobs.claim(name, 60)) is not None:
            time.sleep(0.01)  # a job takes a moment: on a busy machine one process's threads would drain all 30
            assert jobs.finish(job.upload_id, name, SUCCESS)
            with lock:
                taken.append((job.upload_id, name))

    threads = [threading.Thread(target=work, args=(jobs, f"{p}-w{i}")) for p, jobs in (("a", first), ("b", second))
               for i in range(3)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(upload_id for upload_id, _ in taken) == [f"u{n:02}" for n in range(30)]
    assert {name[0] for _, name in taken} == {"a", "b"}, "both processes took jobs"
    assert all(first.get(f"u{n:02}").attempts == 1 for n in range(30))


def test_a_silent_worker_s_job_passes_to_another_when_its_lease_runs_out(
    trackers: MakeTracker, plain: redis.Redis
) -> None:
    jobs = trackers()
    jobs.submit("u1", "s")
    assert jobs.claim("silent", 0.2) is not None
    assert jobs.claim("other", 60) is None, "the lease still runs"
    time.sleep(0.3)
    taken = jobs.claim("other", 60)
    assert taken is not None and (taken.upload_id, taken.attempts, taken.status) == ("u1", 2, PROCESSING)
    assert plain.xpending(STREAM, GROUP)["consumers"] == [{"name": "other", "pending": 1}]
    assert jobs.claim("third", 0.2) is None, "the new holder's lease (60 s) counts, not the claimer's"


def test_a_worker_whose_job_was_taken_over_can_neither_renew_nor_finish(trackers: MakeTracker) -> None:
    jobs = trackers()
    jobs.submit("u1", "s")
    assert jobs.claim("slow", 0.05) is not None
    time.sleep(0.1)
    assert jobs.claim("fast", 60) is not None
    assert not jobs.renew("u1", "slow", 60, progress={"bytes": 1})
    assert not jobs.finish("u1", "slow", failed("too late"))
    assert jobs.get("u1").status == PROCESSING and jobs.get("u1").progress is None
    assert jobs.renew("u1", "fast", 60, progress={"bytes": 2})
    assert jobs.finish("u1", "fast", SUCCESS)
    assert jobs.get("u1").progress == {"bytes": 2}


def test_renewing_keeps_a_job_past_its_first_lease(trackers: MakeTracker) -> None:
    jobs = trackers()
    jobs.submit("u1", "s")
    assert jobs.claim("w1", 0.3) is not None
    for _ in range(4):
        time.sleep(0.15)
        assert jobs.renew("u1", "w1", 0.3)
        assert jobs.claim("w2", 60) is None
    assert jobs.finish("u1", "w1", SUCCESS)


def test_a_restarted_tracker_sees_every_job(trackers: MakeTracker) -> None:
    before = trackers()
    for n in range(3):
        before.submit(f"u{n}", f"s{n}")
    assert before.claim("w1", 60) is not None
    before.renew("u0", "w1", 60, progress={"members": 2})
    before.close()
    after = trackers()
    assert [after.get(f"u{n}").status for n in range(3)] == [PROCESSING, QUEUED, QUEUED]
    assert after.get("u0").progress == {"members": 2} and after.get("u2").staged_key == "s2"
    assert after.finish("u0", "w1", SUCCESS), "a worker is its name, not its connection"
    claimed = [after.claim("w2", 60), after.claim("w2", 60), after.claim("w2", 60)]
    assert [job.upload_id if job else None for job in claimed] == ["u1", "u2", None]


def test_a_deleted_group_is_made_again_and_running_jobs_keep_their_holder(
    trackers: MakeTracker, plain: redis.Redis
) -> None:
    jobs = trackers()
    for n in range(3):
        jobs.submit(f"u{n}", "s")
    assert jobs.claim("w1", 60) is not None
    plain.xgroup_destroy(STREAM, GROUP)
    assert jobs.renew("u0", "w1", 60), "the holder keeps its job while the group is gone"
    taken = jobs.claim("w2", 60)
    assert taken is not None and (taken.upload_id, taken.attempts) == ("u1", 1), "u0 went back to w1"
    assert plain.xpending_range(STREAM, GROUP, "-", "+", 10)[0]["consumer"] == "w1"
    assert jobs.finish("u0", "w1", SUCCESS) and jobs.finish("u1", "w2", SUCCESS)
    assert jobs.claim("w3", 60).upload_id == "u2"  # type: ignore[union-attr]


def test_a_deleted_stream_is_made_again_and_its_unfinished_jobs_queued_again(
    trackers: MakeTracker, plain: redis.Redis
) -> None:
    jobs = trackers()
    for n in range(3):
        jobs.submit(f"u{n}", "s")
    assert jobs.claim("w1", 60) is not None and jobs.claim("w1", 60) is not None
    assert jobs.finish("u1", "w1", SUCCESS)
    plain.delete(STREAM)
    jobs.submit("u3", "s")
    claimed = {job.upload_id for job in iter(lambda: jobs.claim("w2", 60), None)}
    assert claimed == {"u2", "u3"}, "u0 is still held by w1; u1 is finished"
    assert jobs.renew("u0", "w1", 60) and jobs.finish("u0", "w1", SUCCESS)
    assert plain.xlen(STREAM) == 2 and jobs.claim("w3", 60) is None


def test_a_message_deleted_from_the_stream_while_held_is_skipped(trackers: MakeTracker, plain: redis.Redis) -> None:
    jobs = trackers()
    jobs.submit("u1", "s")
    jobs.submit("u2", "s")
    assert jobs.claim("dead", 0.05) is not None
    plain.xdel(STREAM, plain.hget("UPLOAD_JOB:u1", "message_id"))  # type: ignore[arg-type]
    time.sleep(0.1)
    taken = jobs.claim("w", 60)
    assert taken is not None and taken.upload_id == "u2"
    assert plain.xpending(STREAM, GROUP)["pending"] == 1, "the deleted message left the pending list"


def test_a_prefix_keeps_registries_apart_in_one_database(trackers: MakeTracker, plain: redis.Redis) -> None:
    blue, green = trackers(prefix="blue:"), trackers(prefix="green:")
    blue.submit("u1", "s")
    green.submit("u1", "s")
    assert blue.claim("w", 60) is not None and blue.claim("w", 60) is None
    assert plain.get("blue:UPLOAD_STATUS:u1") == PROCESSING and plain.get("green:UPLOAD_STATUS:u1") == QUEUED
    assert sorted(plain.keys("*")) == sorted(
        f"{p}:{k}" for p in ("blue", "green") for k in ("UPLOAD_STATUS:u1", "UPLOAD_JOB:u1", STREAM)
    )


def test_finished_jobs_expire_after_the_ttl(trackers: MakeTracker, plain: redis.Redis) -> None:
    jobs = trackers(ttl="1")
    jobs.submit("u1", "s")
    jobs.submit("u2", "s")
    assert jobs.claim("w", 60) is not None
    assert plain.ttl("UPLOAD_STATUS:u1") == -1 and plain.ttl("UPLOAD_JOB:u1") == -1, "open jobs never expire"
    assert jobs.finish("u1", "w", SUCCESS)
    assert 0 < plain.pttl("UPLOAD_STATUS:u1") <= 1000 and 0 < plain.pttl("UPLOAD_JOB:u1") <= 1000
    time.sleep(1.2)
    with pytest.raises(JobNotFound):
        jobs.get("u1")
    assert jobs.get("u2").status == QUEUED


def test_timeouts_default_to_five_seconds_and_the_url_may_change_them(trackers: MakeTracker) -> None:
    defaults = trackers().client.connection_pool.connection_kwargs
    assert (defaults["socket_timeout"], defaults["socket_connect_timeout"]) == (5.0, 5.0)
    assert defaults["health_check_interval"] == 30
    assert trackers(socket_timeout="0.5").client.connection_pool.connection_kwargs["socket_timeout"] == 0.5


@pytest.mark.parametrize(
    ("query", "complaint"),
    [
        ("ttl=0", "ttl"),
        ("ttl=soon", "ttl"),
        ("stream=", "stream"),
        ("prefx=a", "prefx"),
        ("db=x", "db"),
        ("ssl_ca_certs=/ca.pem", "ssl_ca_certs"),
    ],  # TLS options need rediss://
)
def test_unusable_urls_are_refused_when_the_tracker_is_built(query: str, complaint: str) -> None:
    with pytest.raises(ConfigurationError, match=complaint) as caught:
        tracker_for(f"redis://:hunter2@127.0.0.1:1/0?{query}")
    assert "hunter2" not in caught.value.message


def test_the_plugin_imports_without_redis_py_and_says_how_to_install_it() -> None:
    program = (
        "import sys; sys.modules['redis'] = None\n"  # as if the extra were not installed
        "from pathlib import Path\n"
        "from assets_registry.adapters import redis as plugin\n"
        "from assets_registry.plugins import AdapterContext, BackendURL\n"
        "assert [s.scheme for s in plugin.assets_registry_adapters()] == ['redis', 'rediss']\n"
        "try:\n"
        "    plugin.make_job_tracker(AdapterContext(BackendURL('redis://localhost/0'), Path('.')))\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ConfigurationError") and "pip install 'assets-registry[redis]'" in done.stdout


def _bundle(asset_id: str) -> bytes:
    return bundle_zip(asset_id, {"model.bin": b"\x00\x01" * 5000})


def test_uploads_queued_by_one_process_are_run_by_the_workers_of_another(
    redis_db: RedisDatabase, plain: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole path: ``jobs = redis://`` in the settings, a server staging, a worker process running."""
    # Only the plugins this test needs: the others' servers are not part of it.
    settings = load_settings(
        data_dir=tmp_path / "var", jobs_url=redis_db.url, disable_plugins=["mongodb", "s3", "ceph"]
    )
    server, worker = build_container(settings).services(), build_container(settings).services()
    assert isinstance(server.jobs, RedisJobTracker) and server.jobs is not worker.jobs
    upload_ids = [server.bundles.stage([_bundle(f"zip-{n}")]).upload_id for n in range(4)]
    assert [plain.get(f"UPLOAD_STATUS:{upload_id}") for upload_id in upload_ids] == [QUEUED] * 4
    workers = BundleWorkers(worker.bundles, threads=2, poll_seconds=0.05).start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(server.jobs.get(u).status != SUCCESS for u in upload_ids):
            time.sleep(0.05)
    finally:
        workers.stop()
    assert [plain.get(f"UPLOAD_STATUS:{upload_id}") for upload_id in upload_ids] == [SUCCESS] * 4
    assert [server.bundles.status(u).asset_id for u in upload_ids] == [f"zip-{n}" for n in range(4)]
    assert server.registry.get("zip-3").document["files"][0]["asset_file_id"]
    server.close()
    worker.close()


# -- outages: a server of the test's own, killed or paused --------------------------------


def _every_call(jobs: RedisJobTracker) -> dict[str, Callable[[], object]]:
    return {
        "submit": lambda: jobs.submit("u9", "s"),
        "get": lambda: jobs.get("u1"),
        "claim": lambda: jobs.claim("w2", 60),
        "renew": lambda: jobs.renew("u1", "w1", 60),
        "finish": lambda: jobs.finish("u1", "w1", SUCCESS),
        "check": jobs.check,
    }


def test_a_killed_server_makes_every_call_unavailable_within_seconds(
    redis_server_factory: Callable[..., RedisServer], trackers: MakeTracker
) -> None:
    server = redis_server_factory("--requirepass", "s3cret-pw")
    jobs = trackers(f"redis://:s3cret-pw@127.0.0.1:{server.port}/0")
    jobs.submit("u1", "s")
    assert jobs.claim("w1", 60) is not None
    server.kill()
    for name, call in _every_call(jobs).items():
        started = time.monotonic()
        with pytest.raises(BackendUnavailable) as caught:
            call()
        assert time.monotonic() - started < 3, f"{name} took too long"
        assert caught.value.backend == "job tracker (Redis)" and caught.value.code == "backend_unavailable"
        assert "s3cret-pw" not in str(caught.value), name
    server.start(server.port)  # the same address again, empty (no persistence): the pool reconnects
    jobs.check()
    jobs.submit("u1", "s")
    assert jobs.claim("w1", 60) is not None
    jobs.close()


def test_a_hung_server_is_reported_after_the_socket_timeout_not_waited_for(
    redis_server_factory: Callable[..., RedisServer], trackers: MakeTracker
) -> None:
    server = redis_server_factory()
    jobs = trackers(f"{server.url}/0", socket_timeout="0.5")
    jobs.submit("u1", "s")
    server.pause()
    try:
        started = time.monotonic()
        with pytest.raises(BackendUnavailable, match="Timeout"):
            jobs.get("u1")
        assert time.monotonic() - started < 2.5
    finally:
        server.resume()
    assert jobs.get("u1").status == QUEUED


def test_a_wrong_password_is_unavailable_without_showing_it(
    redis_server_factory: Callable[..., RedisServer], trackers: MakeTracker
) -> None:
    server = redis_server_factory("--requirepass", "right-pw")
    jobs = trackers(f"redis://:wrong-pw@127.0.0.1:{server.port}/0")
    with pytest.raises(BackendUnavailable) as caught:
        jobs.check()
    assert "wrong-pw" not in str(caught.value) and "right-pw" not in str(caught.value)
    assert "Authentication" in str(caught.value)


def test_rediss_talks_tls(redis_server_factory: Callable[..., RedisServer], tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    if made.returncode != 0:
        unavailable(f"openssl could not make a test certificate: {made.stderr.decode(errors='replace')[-300:]}")
    tls_port = free_port()
    redis_server_factory(
        "--tls-port", str(tls_port), "--tls-cert-file", str(cert), "--tls-key-file", str(key),
        "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no",
    )  # fmt: skip
    jobs = tracker_for(f"rediss://127.0.0.1:{tls_port}/0?ssl_ca_certs={cert}")
    try:
        jobs.submit("u1", "s")
        assert jobs.claim("w", 60) is not None and jobs.finish("u1", "w", SUCCESS)
        assert jobs.get("u1").status == SUCCESS
    finally:
        jobs.close()
