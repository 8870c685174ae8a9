"""What the AWS steps declare when a configuration loads: the formats of the AWS names their
options check, and their default retries.

Step modules import this, not the AWS code: `automations list` and `validate` import every
step type a configuration uses to check its `with:` options, and must stay as fast as a bare
YAML parse (bench/cli_start.py). So nothing here imports more than automations.retry.
"""
from __future__ import annotations

from automations.retry import RetryPolicies, RetryPolicy

SESSION_NAME_PATTERN = r"[\w+=,.@-]{2,64}"
ROLE_ARN_PATTERN = r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}"
REGION_PATTERN = r"[a-z]{2}(-[a-z]+)+-\d+"
# A profile name we write or read: a section name of the shared AWS files (no space, no bracket).
PROFILE_PATTERN = r"[^\s\[\]]{1,128}"
# The version of a Secrets Manager secret read unless a step names another stage.
CURRENT_STAGE = "AWSCURRENT"

# The default retries of the AWS steps (aws-login, secrets-manager, ssm-parameters), chosen by
# measurement (issue 16; bench/fleet.py, BENCHMARKS.md "Fleet and lone environment"). One
# budget for both classes (12 attempts, 300 s), so a 5xx met late in a throttled herd does
# not end the login; the wait is what fits the error:
# - transient: a lone environment whose first attempt meets a hiccup is logged in about a
#   second later (the first wait is uniform in [0, 0.5 s]); twelve attempts reach ~60 s, for
#   a token source that takes a while at environment start;
# - throttled: a fleet booting together spreads over the quota. In the exact-herd model,
#   3 000 environments against 50 requests/s all succeed, 3.6 calls each, p90 1.06x the
#   60 s floor; 10 000 need 5.3 calls each (what keeps them under 4: BENCHMARKS.md).
AWS_RETRY = RetryPolicies(
    transient=RetryPolicy(attempts=12, initial_delay=0.5, max_delay=15.0, deadline=300.0),
    throttled=RetryPolicy(attempts=12, initial_delay=10.0, max_delay=120.0, deadline=300.0),
)
