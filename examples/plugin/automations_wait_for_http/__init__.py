"""`wait-for-http`: wait until a URL answers with an expected status, e.g. a local service a
later step needs. A complete third-party step type: typed options checked when the file is
loaded, a retry policy, errors classified as transient or not, a dry-run description."""
from __future__ import annotations

from automations.api import (OptionError, Options, RetryPolicy, Step, StepContext, StepFailed, StepResult,
                             TransientError, option)


class WaitForHttpOptions(Options):
    url: str = option(pattern=r"https?://\S+", help="the URL to poll")
    status: int = option(200, minimum=100, maximum=599, help="the HTTP status that means ready")
    timeout: float = option(2.0, minimum=0.1, help="seconds per request")

    def validate(self) -> None:
        if isinstance(self.url, str) and self.url.startswith("http://") and "@" in self.url:
            raise OptionError("url", "credentials in a plain-http URL would travel unencrypted")


class WaitForHttpStep(Step[WaitForHttpOptions]):
    name = "wait-for-http"
    Options = WaitForHttpOptions
    summary = "Wait until a URL answers with the expected HTTP status"
    # Not ready yet is the normal case at environment start: keep trying for a minute.
    retry_policy = RetryPolicy(attempts=30, initial_delay=0.5, max_delay=5.0, deadline=60.0)

    def run(self, ctx: StepContext) -> StepResult:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(self.options.url, timeout=self.options.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        except (urllib.error.URLError, OSError) as error:
            raise TransientError(f"{self.options.url} does not answer yet: {getattr(error, 'reason', error)}") from None
        if status != self.options.status:
            if status >= 500:
                raise TransientError(f"{self.options.url} answered {status}, waiting for {self.options.status}")
            raise StepFailed(f"{self.options.url} answered {status}, expected {self.options.status}")
        return StepResult.ok(f"{self.options.url} answered {status}", status=status)

    def describe(self) -> list[str]:
        return [f"wait until {self.options.url} answers {self.options.status}"]
