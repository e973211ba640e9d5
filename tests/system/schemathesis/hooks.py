"""Schemathesis hooks for the gateway's run (tests/system/tests/api/openapi.rs): serialisers for the
media types the gateway reads that schemathesis does not know. Loaded through SCHEMATHESIS_HOOKS."""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    """One JSON document per line: a list is several lines, anything else one."""
    if isinstance(value, bytes):
        return value
    items = value if isinstance(value, list) else [value]
    return "".join(json.dumps(item) + "\n" for item in items).encode("utf-8")


@schemathesis.serializer("text/csv")
def csv(ctx, value):
    """A CSV body is a string in the document: sent as it is."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value).encode("utf-8")
