"""The served OpenAPI document describes every body completely: each "$ref" in it resolves
inside the document (a nested body model once pointed at "#/$defs/…", which is nowhere)."""

from __future__ import annotations

from smartdoor.main import create_app
from smartdoor.settings import Settings


def references(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def resolves(document: dict, ref: str) -> bool:
    if not ref.startswith("#/"):
        return False
    node = document
    for part in ref[2:].split("/"):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_every_reference_in_the_schema_resolves(tmp_path):
    settings = Settings(
        _env_file=None, secret_key="s" * 40, data_dir=tmp_path, legacy_api=True, legacy_allowed_clients="10.0.0.9"
    )
    document = create_app(settings).openapi()
    refs = list(references(document))
    assert refs, "the legacy routes' bodies are referenced components"
    assert [ref for ref in refs if not resolves(document, ref)] == []
    uses = document["paths"]["/api/v1/offline/uses"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert uses["properties"]["uses"]["items"]["properties"]["at"]["type"] == "integer"
