"""The check harness the boto3 scripts of e2e/ share: a client on the
server under test, @check to run and report one check, and the summary.

Each check prints "PASS name" or "FAIL: name: why"; summary() prints
"ALL PASSED n", or "FAILED k of n: names" and exits 1.
"""

import os
import sys
import traceback

import boto3
from botocore.config import Config

ENDPOINT = os.environ["NB_ENDPOINT"]
MIB = 1 << 20

_failures = []
_passed = 0


def client(**cfg):
    """A path-style client on NB_ENDPOINT that does not retry."""
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **cfg),
    )


def check(fn):
    """Runs fn at once and reports it; a decorator."""
    global _passed
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - every failure is reported
        _failures.append(fn.__name__)
        print(f"FAIL: {fn.__name__}: {e!r}")
        if not isinstance(e, AssertionError):
            traceback.print_exc(limit=4, file=sys.stdout)
    else:
        _passed += 1
        print(f"PASS {fn.__name__}")
    return fn


def summary():
    if _failures:
        print(f"FAILED {len(_failures)} of {_passed + len(_failures)}: {', '.join(_failures)}")
        sys.exit(1)
    print(f"ALL PASSED {_passed}")
