"""The token is capped before any processing: a token command printing hundreds of MB is
stopped at 64 KiB, and the process reading it stays small (issue 10: 100 MB made it grow
to 10 GB before the JWT check ran)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from support.cli import AUTOMATIONS

MEMORY_BOUND_MIB = 150  # automations itself needs ~40 MiB; the output alone would be 200 MiB


def test_a_token_command_printing_200_mb_is_stopped_in_bounded_memory(base_env, tmp_path: Path):
    (tmp_path / "automations.yaml").write_text(textwrap.dedent("""\
        tasks:
          boot:
            steps:
              - uses: aws-login
                with:
                  roleArn: arn:aws:iam::123456789012:role/dev
                  token: {command: "head -c 200000000 /dev/zero"}
        """))
    # A parent of its own, so that the peak RSS of its children is automations' (and head's).
    measure = ("import resource, subprocess, sys; "
               "result = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "print(result.returncode); print(result.stderr.strip()); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)")

    lines = subprocess.run([sys.executable, "-c", measure, AUTOMATIONS, "token", "--task", "boot"], cwd=tmp_path,
                           env=base_env, capture_output=True, text=True, timeout=120, check=True).stdout.splitlines()

    code, error, peak_mib = int(lines[0]), lines[1], int(lines[2])
    assert code == 2
    assert error == ("error: cannot get the token from command `head -c 200000000 /dev/zero`: command "
                     "`head -c 200000000 /dev/zero` printed more than 64 KiB, which is no token; stopped it")
    assert peak_mib < MEMORY_BOUND_MIB
