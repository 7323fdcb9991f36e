"""Parses metrics_dump's output (Server::metrics_text() and an application family) with
Prometheus' own text parser and checks it strictly: every line well formed, each
family's lines together after its HELP and TYPE, the library's families present with
their types and labels, histogram buckets cumulative up to +Inf = _count, and the
numbers of what metrics_dump did.

Usage: check_metrics_text.py PATH/TO/wirehub_metrics_dump
"""

import math
import os
import re
import subprocess
import sys
import tempfile

from prometheus_client.parser import text_string_to_metric_families

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\\\|\\"|\\n)*"'
VALUE = r"(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)"
SAMPLE = re.compile(rf"^({NAME})(?:\{{(?:{LABEL})(?:,{LABEL})*\}})? {VALUE}$")
HELP = re.compile(rf"^# HELP ({NAME}) (?:[^\\\n]|\\\\|\\n)*$")
TYPE = re.compile(rf"^# TYPE ({NAME}) (counter|gauge|histogram)$")

TRANSPORT = ("transport", "endpoint")
# name -> (type, label names of a sample, besides "le")
EXPECTED = {
    "wirehub_event_loops": ("gauge", ()),
    "wirehub_event_loop_lag_seconds": ("histogram", ("loop",)),
    "wirehub_accepted_connections_total": ("counter", ()),
    "wirehub_accept_fd_exhausted_total": ("counter", ()),
    "wirehub_http_requests_total": ("counter", ()),
    "wirehub_http_errors_total": ("counter", ()),
    "wirehub_http_timeouts_total": ("counter", ()),
    "wirehub_connections": ("gauge", TRANSPORT),
    "wirehub_connections_opened_total": ("counter", TRANSPORT),
    "wirehub_handshakes_total": ("counter", ("endpoint", "result")),
    "wirehub_messages_total": ("counter", TRANSPORT + ("direction",)),
    "wirehub_message_bytes_total": ("counter", TRANSPORT + ("direction",)),
    "wirehub_dropped_messages_total": ("counter", TRANSPORT),
    "wirehub_slow_consumer_closes_total": ("counter", TRANSPORT),
    "wirehub_protocol_errors_total": ("counter", TRANSPORT),
    "wirehub_publish_delivery_seconds": ("histogram", TRANSPORT),
    "app_orders_total": ("counter", ("source",)),
    "app_order_value": ("histogram", ("currency",)),
}


def fail(message):
    print("metrics text check failed: " + message, file=sys.stderr)
    sys.exit(1)


def check_lines(text):
    """The raw lines, stricter than the parser: grammar, and families kept together."""
    if not text.endswith("\n"):
        fail("the text does not end with a newline")
    families, current = [], None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if m := HELP.match(line):
            if m.group(1) in families:
                fail(f"line {n}: family {m.group(1)} appears twice")
            families.append(m.group(1))
            current = m.group(1)
        elif m := TYPE.match(line):
            if m.group(1) != current:
                fail(f"line {n}: TYPE of {m.group(1)} does not follow its HELP")
        elif m := SAMPLE.match(line):
            name = m.group(1)
            if name != current and not any(name == current + s for s in ("_bucket", "_sum", "_count")):
                fail(f"line {n}: sample {name} outside its family (current: {current})")
        else:
            fail(f"line {n} is not valid exposition format: {line!r}")
    return families


def main():
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "metrics.txt")
        dump = subprocess.run([sys.argv[1], out], capture_output=True, text=True, timeout=30)
        if dump.returncode != 0:
            fail(f"metrics_dump exited {dump.returncode}: {dump.stderr[-2000:]}")
        with open(out, encoding="utf-8") as f:
            text = f.read()
    families = check_lines(text)
    missing = set(EXPECTED) - set(families)
    if missing:
        fail(f"missing families: {sorted(missing)}")

    parsed = {}
    for fam in text_string_to_metric_families(text):
        parsed[fam.name] = fam
    values = {}
    for name, (typ, labels) in EXPECTED.items():
        key = name[: -len("_total")] if typ == "counter" and name.endswith("_total") else name
        fam = parsed.get(key)
        if fam is None:
            fail(f"the parser did not return {name}")
        if fam.type != typ:
            fail(f"{name} is a {fam.type}, expected {typ}")
        if not fam.samples:
            fail(f"{name} has no samples")
        series = {}
        for s in fam.samples:
            if math.isnan(s.value) or s.value < 0:
                fail(f"{s.name}{s.labels} = {s.value}")
            names = tuple(k for k in s.labels if k != "le")
            if names != labels:
                fail(f"{s.name} has labels {names}, expected {labels}")
            if typ == "histogram":
                ident = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
                series.setdefault(ident, []).append(s)
            values[(s.name, tuple(sorted(s.labels.items())))] = s.value
        for ident, samples in series.items():
            buckets = [s for s in samples if s.name == name + "_bucket"]
            count = [s.value for s in samples if s.name == name + "_count"]
            sums = [s.value for s in samples if s.name == name + "_sum"]
            if not buckets or buckets[-1].labels["le"] != "+Inf" or len(count) != 1 or len(sums) != 1:
                fail(f"{name}{dict(ident)}: needs buckets ending with le=+Inf, one _sum and one _count")
            bounds = [float(b.labels["le"]) for b in buckets]
            if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
                fail(f"{name}{dict(ident)}: le bounds not ascending: {bounds}")
            counts = [b.value for b in buckets]
            if counts != sorted(counts):
                fail(f"{name}{dict(ident)}: buckets not cumulative: {counts}")
            if counts[-1] != count[0]:
                fail(f"{name}{dict(ident)}: +Inf bucket {counts[-1]} != _count {count[0]}")

    def value(name, **labels):
        v = values.get((name, tuple(sorted(labels.items()))))
        if v is None:
            fail(f"no sample {name}{labels}")
        return v

    echo = {"transport": "websocket", "endpoint": "/ws/echo"}
    odd = {"transport": "websocket", "endpoint": '/ws/odd"name\\'}
    expect = [
        (value("wirehub_event_loops"), 2),
        (value("wirehub_messages_total", direction="in", **echo), 3),
        (value("wirehub_messages_total", direction="out", **echo), 4),
        (value("wirehub_message_bytes_total", direction="in", **echo), 11),
        (value("wirehub_message_bytes_total", direction="out", **echo), 17),
        (value("wirehub_connections_opened_total", **echo), 1),
        (value("wirehub_connections", **echo), 0),
        (value("wirehub_connections", **odd), 0),
        (value("wirehub_connections_opened_total", **odd), 1),
        (value("wirehub_handshakes_total", endpoint="/ws/echo", result="accepted"), 1),
        (value("wirehub_publish_delivery_seconds_count", **echo), 1),
        (value("wirehub_accepted_connections_total"), 3),
        (value("wirehub_http_errors_total"), 1),  # the request line with a space in its target
        (value("app_orders_total", source='api "v1"\\\n'), 7),
        (value("app_order_value_count", currency="EUR"), 3),
    ]
    for i, (got, want) in enumerate(expect):
        if got != want:
            fail(f"check {i}: got {got}, expected {want}")
    for loop in ("0", "1"):
        if value("wirehub_event_loop_lag_seconds_count", loop=loop) < 1:
            fail(f"loop {loop} recorded no lag sample")
    print(f"{len(families)} families, {sum(len(f.samples) for f in parsed.values())} samples: ok")


if __name__ == "__main__":
    main()
