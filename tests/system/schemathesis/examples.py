"""Every example in an OpenAPI document is valid against its schema: component schemas' `example`,
and each request body's and response's `example` against the media type's schema. Usage:
`python examples.py openapi.json`; prints each invalid example and exits 1 if there is one."""

import json
import sys

from jsonschema import Draft202012Validator


def main(path):
    doc = json.load(open(path, encoding="utf-8"))
    components = doc.get("components", {})
    checked, problems = 0, []

    def check(where, schema, example):
        nonlocal checked
        checked += 1
        validator = Draft202012Validator({"allOf": [schema], "components": components})
        for error in validator.iter_errors(example):
            problems.append(f"{where}: {error.message} at {list(error.absolute_path)}")

    for name, schema in components.get("schemas", {}).items():
        if "example" in schema:
            check(f"schema {name}", {"$ref": f"#/components/schemas/{name}"}, schema["example"])
    for path, item in doc.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            bodies = [("request", operation.get("requestBody", {}))]
            bodies += [(f"response {status}", response) for status, response in operation.get("responses", {}).items()]
            for label, body in bodies:
                for media, content in body.get("content", {}).items():
                    if "example" in content and "schema" in content:
                        check(f"{method.upper()} {path} {label} {media}", content["schema"], content["example"])
    for problem in problems:
        print(problem)
    print(f"{checked} examples checked, {len(problems)} invalid")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
