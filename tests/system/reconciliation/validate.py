"""Checks JSON documents against the W3C Reconciliation Service API 0.2 schemas (schemas-0.2/).

Usage: validate.py SCHEMA FILE...   (SCHEMA: manifest, reconciliation-result-batch,
reconciliation-query-batch, suggest-entities-response, suggest-properties-response)

Prints one line per file (`FILE: valid`, or its errors) and `N valid, M invalid`; exits 1 when
any is invalid. The schemas refer to each other by relative `$ref` (`type.json`): they are loaded
into one registry, and nothing is fetched from the network.
"""

import json
import pathlib
import sys

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

HERE = pathlib.Path(__file__).resolve().parent / "schemas-0.2"
BASE = "https://reconciliation-api.github.io/specs/0.2/schemas/"


def registry():
    resources = []
    for path in sorted(HERE.glob("*.json")):
        contents = json.loads(path.read_text())
        resource = Resource.from_contents(contents, default_specification=DRAFT7)
        resources.append((BASE + path.name, resource))
        if "$id" in contents:
            resources.append((contents["$id"], resource))
    return Registry().with_resources(resources)


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    schema_path = HERE / f"{sys.argv[1]}.json"
    schema = json.loads(schema_path.read_text())
    # `http://json-schema.org/schema#` names no draft: read as draft 7, as the spec's tests do.
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    schema["$id"] = BASE + schema_path.name
    validator = jsonschema.Draft7Validator(schema, registry=registry())
    valid = invalid = 0
    for name in sys.argv[2:]:
        document = json.loads(pathlib.Path(name).read_text())
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
        if errors:
            invalid += 1
            for error in errors:
                where = "/".join(str(p) for p in error.absolute_path)
                print(f"{name}: {where}: {error.message}")
        else:
            valid += 1
            print(f"{name}: valid")
    print(f"{valid} valid, {invalid} invalid")
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main())
