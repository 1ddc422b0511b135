"""Reads a JUnit XML file with junitparser (what CI tools' readers are modelled on), checks
its structure and prints it as JSON for the Rust tests to compare with imgseal's JSON.

    /usr/bin/python3 tests/common/junit_summary.py FILE

Exits non-zero, with the reason on stderr, when the file does not parse, its root is not
<testsuites>, a suite's or the root's tests/failures/errors/skipped/time attributes differ
from what its testcases add up to, or a testcase lacks a name or classname or has more than
one result.
"""

import json
import sys

from junitparser import Error, Failure, JUnitXml, Skipped

KINDS = {Failure: "failure", Error: "error", Skipped: "skipped"}


def fail(msg):
    sys.stderr.write(f"junit_summary: {sys.argv[1]}: {msg}\n")
    sys.exit(1)


def main():
    xml = JUnitXml.fromfile(sys.argv[1])
    if not isinstance(xml, JUnitXml):
        fail("the root element is not <testsuites>")
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "time": 0.0}
    suites = []
    for suite in xml:
        if not suite.name:
            fail("a testsuite without a name")
        counted = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "time": 0.0}
        cases = []
        for case in suite:
            if not case.name or not case.classname:
                fail(f"{suite.name}: a testcase without name or classname")
            if case.time is None or case.time < 0:
                fail(f"{suite.name}: {case.name}: no time")
            results = case.result
            if len(results) > 1:
                fail(f"{suite.name}: {case.name}: {len(results)} results")
            kind = KINDS[type(results[0])] if results else "passed"
            counted["tests"] += 1
            counted["time"] += case.time
            if kind == "failure":
                counted["failures"] += 1
            elif kind == "error":
                counted["errors"] += 1
            elif kind == "skipped":
                counted["skipped"] += 1
            r = results[0] if results else None
            cases.append(
                {
                    "classname": case.classname,
                    "name": case.name,
                    "time": case.time,
                    "result": kind,
                    "message": r.message if r is not None else None,
                    "type": r.type if r is not None else None,
                    "text": r.text if r is not None else None,
                    "system_out": case.system_out,
                }
            )
        for k in ("tests", "failures", "errors", "skipped"):
            if getattr(suite, k) != counted[k]:
                fail(f"{suite.name}: {k}={getattr(suite, k)}, its testcases make {counted[k]}")
            total[k] += counted[k]
        if abs(suite.time - counted["time"]) > 0.01 * max(1, len(cases)):
            fail(f"{suite.name}: time={suite.time}, its testcases make {counted['time']}")
        total["time"] += suite.time
        suites.append(
            {
                "name": suite.name,
                **{k: counted[k] for k in ("tests", "failures", "errors", "skipped")},
                "cases": cases,
            }
        )
    for k in ("tests", "failures", "errors", "skipped"):
        if getattr(xml, k) != total[k]:
            fail(f"<testsuites> {k}={getattr(xml, k)}, its suites make {total[k]}")
    if abs(xml.time - total["time"]) > 0.01 * max(1, len(suites)):
        fail(f"<testsuites> time={xml.time}, its suites make {total['time']}")
    json.dump(
        {
            "name": xml.name,
            **{k: total[k] for k in ("tests", "failures", "errors", "skipped")},
            "suites": suites,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
