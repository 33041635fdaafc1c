"""The walkthrough's value check: loads NovaSettings and compares each field with the demo value.

Run by `walkthrough.py` in the step's own environment, as `python demo/verify.py SPEC...`, each
SPEC `field|source:end of location`. The expected value of a field comes in the environment
variable `DEMO_WANT_<field>`, never on the command line (where `ps` would show it). Only field
names and provenance are printed, never a value; exit status 1 names the first field that differs.
"""

from __future__ import annotations

import os
import sys

from nova_config import NovaSettings


def check(specs: list[str]) -> str | None:
    """Load the settings once and check every spec.

    Args:
        specs: `field|source:end of location`, one a field.

    Returns:
        What was wrong with the first field that differs, or None when every one matched.
    """
    settings = NovaSettings()
    for spec in specs:
        field, _, want_from = spec.partition("|")
        source, _, location = want_from.partition(":")
        origin = settings.source_of(field)
        value = getattr(settings, field)
        got = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
        if origin.source != source or not origin.location.endswith(location):
            return f"{field} came from {origin}, not from {want_from}"
        if got != os.environ["DEMO_WANT_" + field]:
            return f"{field} came from {origin} but does not hold the demo value written there"
    return None


if __name__ == "__main__":
    problem = check(sys.argv[1:])
    if problem is not None:
        sys.exit(problem)
