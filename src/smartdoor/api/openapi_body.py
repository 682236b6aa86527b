"""The JSON schema of a body model as OpenAPI can hold it inline. Pydantic puts a nested
model under "$defs" and points at it with "#/$defs/Name", which inside the OpenAPI document
means the document's root, where nothing is: /docs and every client generator (and the
schemathesis run) could not read such a body. Here the references are replaced by what they
point at (the device bodies nest, they never recurse)."""

from __future__ import annotations

from pydantic import BaseModel


def inline_schema(model: type[BaseModel]) -> dict:
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def resolve(node):
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(definitions[node["$ref"].removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)
