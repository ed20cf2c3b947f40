#!/usr/bin/python3
"""Validates Kubernetes manifests against the API types of the Debian package
python3-kubernetes (the client's models are generated from Kubernetes' OpenAPI spec):
every field must exist in its type, every value must have the field's type, and every
required field must be present (the models' client-side validation).

usage: k8s_schema.py FILE...    prints "ok <kind>/<name>" per object; exit 1 on an error.
"""
import sys

import yaml
from kubernetes import client
from kubernetes.client import models

PRIMITIVES = {"str": (str,), "int": (int,), "bool": (bool,), "float": (int, float),
              "datetime": (str,), "date": (str,)}


def check(value, typ, path, errors):
    if value is None:
        return
    if typ.startswith("list["):
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list ({typ}), got {type(value).__name__}")
            return
        for i, v in enumerate(value):
            check(v, typ[5:-1], f"{path}[{i}]", errors)
    elif typ.startswith("dict("):
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a mapping ({typ})")
            return
        inner = typ[5:-1].split(", ", 1)[1]
        for k, v in value.items():
            check(v, inner, f"{path}.{k}", errors)
    elif typ == "object":
        return
    elif typ in PRIMITIVES:
        ok = isinstance(value, PRIMITIVES[typ]) and not (typ != "bool" and isinstance(value, bool))
        if not ok:
            errors.append(f"{path}: expected {typ}, got {type(value).__name__} {value!r}")
    else:
        cls = getattr(models, typ, None)
        if cls is None:
            errors.append(f"{path}: unknown type {typ}")
            return
        if not isinstance(value, dict):
            errors.append(f"{path}: expected an object ({typ})")
            return
        by_json = {j: p for p, j in cls.attribute_map.items()}
        for key, v in value.items():
            if key not in by_json:
                errors.append(f"{path}: {typ} has no field {key!r}")
                continue
            check(v, cls.openapi_types[by_json[key]], f"{path}.{key}", errors)
        try:
            conf = client.Configuration()
            conf.client_side_validation = True
            cls(local_vars_configuration=conf,
                **{by_json[k]: v for k, v in value.items() if k in by_json})
        except (ValueError, TypeError) as e:
            errors.append(f"{path}: {typ}: {e}")


def main():
    failed = False
    for path in sys.argv[1:]:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
        if not docs:
            print(f"{path}: no object")
            failed = True
        for doc in docs:
            api, kind = doc.get("apiVersion", ""), doc.get("kind", "")
            typ = api.split("/")[-1].capitalize() + kind
            name = doc.get("metadata", {}).get("name", "?")
            errors = []
            if getattr(models, typ, None) is None:
                errors.append(f"no API type for apiVersion {api!r} kind {kind!r}")
            else:
                check(doc, typ, f"{kind}/{name}", errors)
            for e in errors:
                print(f"{path}: {e}")
            failed |= bool(errors)
            if not errors:
                print(f"ok {kind}/{name}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
