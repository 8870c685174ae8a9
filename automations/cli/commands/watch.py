"""`automations watch [TASK...]`: run the tasks as `run` does, then keep what they produced
fresh until SIGTERM or SIGINT (automations.engine.watcher): a Gitpod automation service or
a devcontainer background process.

One watcher per configuration file (and user: the lock lives in the state directory): a
second one exits at once naming the first; the lock of a watcher that died is taken over."""
from __future__ import annotations

import argparse

from automations.engine.config import find_config, load_config, select_tasks
from automations.engine.report.base import Reporter
from automations.engine.report.history import RunHistory, record_runs
from automations.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, StepFailed
from automations.wording import plural

DEFAULT_TRIGGER = "postEnvironmentStart"


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    config = load_config(find_config(args.config))  # a configuration that does not load ends it here
    trigger = args.trigger or (None if args.tasks else DEFAULT_TRIGGER)
    order = select_tasks(config, args.tasks, trigger)
    from automations.engine.runner import Runner
    from automations.engine.watcher import Watcher, lock_path, wakeup_on_signals
    from automations.files.pidlock import PidLock

    history = RunHistory(config.path)
    lock = PidLock(lock_path(history))
    try:
        holder = lock.acquire()
    except StepFailed as error:
        reporter.error(str(error))
        return EXIT_FAILED
    if holder is not None:
        who = f"pid {holder}" if holder else "a process that is starting"
        reporter.error(f"a watcher already runs for {config.path} ({who}); "
                       "stop it first, or let it keep watching")
        return EXIT_FAILED
    try:
        if lock.stale_pid:
            reporter.warning(f"took over the lock of watcher pid {lock.stale_pid}, which is gone")
        if not order:
            reporter.warning(f"nothing to run: no task in {config.path.name} is triggered by {trigger}")
        runner = Runner(config, reporter, jobs=args.jobs)
        recorder = record_runs(reporter, config.path, trigger=trigger)
        # The watcher's handlers go in before the first run (which puts its own in for its
        # time and then gives ours back): from "watching" on, and in the moment between the
        # run and the loop, SIGTERM is a clean stop, never an interruption or a kill.
        with wakeup_on_signals() as wakeup:
            outcome = runner.run(order)
            reporter.listeners.remove(recorder)  # refreshes are recorded one by one, not as this run
            if outcome.interrupted:
                return EXIT_INTERRUPTED
            watcher = Watcher(config, runner, reporter, history, order, outcome.statuses)
            reporter.result("watching", watcher.describe(), items=[item.state() for item in watcher.items])
            stopped_by = watcher.watch(wakeup)
        reporter.result("watch_stopped", [f"watch: stopped by {stopped_by} "
                                          f"({plural(len(watcher.items), 'item')} watched)"], signal=stopped_by)
        return EXIT_OK
    finally:
        lock.release()
