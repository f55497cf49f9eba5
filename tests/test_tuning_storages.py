"""``perfekt-bench tune`` from the command line on real storages: the default journal file,
SQLite, and a real PostgreSQL server started in a temporary folder; parallel workers sharing a
study, and workers killed with SIGKILL. No mocks."""

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from perfekt_bench.cli import main
from perfekt_bench.studies import default_storage, open_storage

pytestmark = pytest.mark.slow

#: the acceptance command with a small network, so that a trial takes a second or two
SMALL = ["--set", "n_blocks=1", "--set", "width=16"]
COMMAND = ["tune", "--task", "analytic", "--refiner", "twostage", "--budget", "smoke", *SMALL]


def study_of(storage, name="analytic-twostage-smoke"):
    import optuna

    return optuna.load_study(study_name=name, storage=open_storage(storage))


def states(storage, name="analytic-twostage-smoke"):
    return [t.state.name for t in study_of(storage, name).trials]


def start_cli(*args):
    """The CLI in its own process (environment read now: this test's folders)."""
    return subprocess.Popen([sys.executable, "-m", "perfekt_bench", *args, "--quiet"],
                            env=dict(os.environ), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_running_trial(storage, *, not_pid=None, timeout=240):
    """The first running trial (of a worker other than ``not_pid``) once there is one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            for trial in study_of(storage).trials:
                worker = trial.user_attrs.get("worker")
                if trial.state.name == "RUNNING" and worker and worker["pid"] != not_pid:
                    return trial
        except KeyError:  # the study does not exist yet
            pass
        time.sleep(0.5)
    raise AssertionError("no trial started running in time")


def test_the_acceptance_command_resumes_up_to_n_trials(capsys):
    assert main([*COMMAND, "--trials", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 complete, 0 pruned, 0 failed" in out and "optuna-dashboard" in out
    assert main([*COMMAND, "--trials", "3"]) == 0
    storage = default_storage(None)
    assert states(storage) == ["COMPLETE"] * 3
    assert (Path(storage).parent / "analytic-twostage-smoke" / "history.png").is_file()


def test_two_workers_share_one_study(capsys):
    assert main([*COMMAND, "--set", "epochs=15", "--trials", "6", "--workers", "2"]) == 0
    trials = study_of(default_storage(None)).trials
    assert len(trials) == 6 and {t.state.name for t in trials} <= {"COMPLETE", "PRUNED"}
    assert len({t.user_attrs["worker"]["pid"] for t in trials}) == 2


def test_a_worker_killed_with_sigkill_leaves_its_trial_failed_and_the_study_goes_on():
    storage = default_storage(None)
    proc = start_cli(*COMMAND, "--set", "epochs=40", "--pruner", "none", "--trials", "4",
                     "--workers", "2")
    try:
        victim = wait_for_running_trial(storage, not_pid=proc.pid)
        os.kill(victim.user_attrs["worker"]["pid"], signal.SIGKILL)
        _, err = proc.communicate(timeout=600)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "was killed by signal 9; its trial is marked failed" in err
    study = study_of(storage)
    assert study.trials[victim.number].state.name == "FAIL"
    assert sorted(t.state.name for t in study.trials) == ["COMPLETE"] * 4 + ["FAIL"]


def test_sqlite_storage_resumes_after_the_command_was_killed(tmp_path):
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    command = [*COMMAND, "--set", "epochs=40", "--pruner", "none", "--storage", storage,
               "--trials", "2"]
    proc = start_cli(*command)
    try:
        victim = wait_for_running_trial(storage)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert states(storage) == ["RUNNING"]
    assert main(command) == 0
    assert states(storage) == ["FAIL", "COMPLETE", "COMPLETE"]
    assert victim.number == 0


#: opens a storage at a moment given as a wall-clock time, so that processes start it together
_OPEN_AT = ("import sys, time\n"
            "from perfekt_bench.studies import open_storage\n"
            "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
            "open_storage(sys.argv[1])\n")


def open_together(url, processes=3):
    """``processes`` processes open the storage ``url`` at nearly the same moment, 15 ms apart
    (the widest window: started exactly together, SQLite's locks mostly serialise them); their
    exit codes and error output."""
    start = time.time() + 4.0  # after every process has imported optuna
    procs = [subprocess.Popen([sys.executable, "-c", _OPEN_AT, url, str(start + 0.015 * k)],
                              stderr=subprocess.PIPE, text=True) for k in range(processes)]
    return [(proc.wait(timeout=120), proc.stderr.read()) for proc in procs]


def test_commands_opening_a_new_sqlite_database_at_once_all_succeed(tmp_path):
    """Optuna creates a new database's tables unguarded; without retrying, two processes
    opening one at the same moment fail about half the time."""
    for attempt in range(6):
        url = f"sqlite:///{tmp_path / f'new{attempt}.db'}"
        for code, err in open_together(url):
            assert code == 0, err
        assert open_storage(url).get_all_studies() == []


# -- a real PostgreSQL server --------------------------------------------------------------


def _postgres_program(name):
    found = shutil.which(name) or sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if isinstance(found, list):
        return str(found[-1]) if found else None
    return found


@pytest.fixture(scope="module")
def postgres_url():
    """A PostgreSQL server of its own in a temporary folder, on a unix socket only (Debian's
    ``postgresql`` package: initdb and pg_ctl); run as the ``postgres`` user when the tests run
    as root, which PostgreSQL refuses. Missing, it skips, unless
    PERFEKT_BENCH_REQUIRE_POSTGRES is set (CI), where it fails."""
    initdb, pg_ctl = _postgres_program("initdb"), _postgres_program("pg_ctl")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        initdb = None
    if initdb is None or pg_ctl is None:
        message = "PostgreSQL (initdb, pg_ctl) or psycopg2 is not installed"
        if os.environ.get("PERFEKT_BENCH_REQUIRE_POSTGRES"):
            pytest.fail(message)
        pytest.skip(message)
    root = Path(tempfile.mkdtemp(prefix="perfekt-bench-pg-"))
    prefix, user = [], pwd.getpwuid(os.getuid()).pw_name
    if os.geteuid() == 0:
        user = "postgres"
        account = pwd.getpwnam(user)
        os.chown(root, account.pw_uid, account.pw_gid)
        prefix = ["runuser", "-u", user, "--"]
    data = root / "data"
    subprocess.run([*prefix, initdb, "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8",
                    "--no-sync"], check=True, capture_output=True, timeout=120)
    subprocess.run([*prefix, pg_ctl, "-D", str(data), "-l", str(root / "server.log"), "-w",
                    "-t", "60", "-o", f"-k {root} -c listen_addresses='' -c fsync=off",
                    "start"], check=True, capture_output=True, timeout=120)
    try:
        yield f"postgresql+psycopg2://{user}@/postgres?host={root}"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


def test_postgresql_storage_with_two_workers_and_a_rerun(postgres_url, capsys):
    command = [*COMMAND, "--storage", postgres_url, "--workers", "2"]
    assert main([*command, "--trials", "4"]) == 0
    assert states(postgres_url) == ["COMPLETE"] * 4
    assert main([*command, "--trials", "5"]) == 0
    trials = study_of(postgres_url).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 5
    assert len({t.user_attrs["worker"]["pid"] for t in trials}) >= 2
    out = capsys.readouterr().out
    assert "postgresql+psycopg2://" in out and "optuna-dashboard" in out


def test_an_unreachable_database_is_a_one_line_error(tmp_path, capsys):
    url = f"postgresql+psycopg2://nobody@/postgres?host={tmp_path}"
    assert main([*COMMAND, "--trials", "1", "--storage", url]) == 2
    err = capsys.readouterr().err  # checked before the data are even generated
    assert err.startswith("perfekt-bench: error: --storage postgresql+psycopg2://nobody@")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_commands_opening_a_new_postgresql_database_at_once_all_succeed(postgres_url):
    import psycopg2
    from sqlalchemy.engine import make_url

    server = make_url(postgres_url)
    admin = psycopg2.connect(dbname=server.database, user=server.username,
                             host=server.query["host"])
    admin.autocommit = True
    try:
        for attempt in range(4):
            name = f"new_{attempt}"
            with admin.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {name}")
            url = server.set(database=name).render_as_string(hide_password=False)
            for code, err in open_together(url):
                assert code == 0, err
            assert open_storage(url).get_all_studies() == []
    finally:
        admin.close()
