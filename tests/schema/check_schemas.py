#!/usr/bin/python3
"""Checks every example state file against schema/state.schema.json, and reports made by the real
binary against schema/report.schema.json (python3-jsonschema, Draft 2020-12)."""

import json
import pathlib
import subprocess
import sys
import tempfile

import jsonschema
import yaml

SOURCE = pathlib.Path(sys.argv[1])
BINARY = sys.argv[2]
failures = 0
checked = 0


def check(schema_name, instance, what):
    global failures, checked
    schema = json.loads((SOURCE / "schema" / schema_name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(instance), key=lambda e: e.path)
    checked += 1
    for error in errors:
        failures += 1
        print(f"FAIL {what}: {'/'.join(map(str, error.path))}: {error.message}")
    if not errors:
        print(f"ok   {what}")


for example in sorted((SOURCE / "examples").rglob("*")):
    if example.suffix in (".yaml", ".yml"):
        check("state.schema.json", yaml.safe_load(example.read_text()), example.relative_to(SOURCE))
    elif example.suffix == ".json":
        document = json.loads(example.read_text())
        if isinstance(document, dict) and "Maintenance" in document:
            # A laitos config: the native state it converts to is what the schema describes.
            converted = subprocess.run([BINARY, "laitos", "convert", str(example)], capture_output=True, text=True)
            if converted.returncode != 0:
                failures += 1
                print(f"FAIL {example.relative_to(SOURCE)}: laitos convert: {converted.stderr.strip()}")
                continue
            document = yaml.safe_load(converted.stdout)
        check("state.schema.json", document, example.relative_to(SOURCE))

# Every depth of the state schema against the real compiler (`validate --offline`), both ways: at every
# object of the schema, a document with each declared key (in each form the schema allows, and with
# values of other types) is accepted by the schema exactly when reconcile accepts it, and an unknown key
# is refused by both. `requires` naming a resource the probe does not manage is not counted.
STATE_SCHEMA = json.loads((SOURCE / "schema" / "state.schema.json").read_text())
STATE_VALIDATOR = jsonschema.Draft202012Validator(STATE_SCHEMA)


def resolve(s):
    while "$ref" in s:
        s = STATE_SCHEMA["$defs"][s["$ref"].removeprefix("#/$defs/")]
    return s


def minimal(s):
    s = resolve(s)
    for key in ("const",):
        if key in s:
            return s[key]
    if "enum" in s:
        return s["enum"][0]
    if "examples" in s:
        return s["examples"][0]
    if "oneOf" in s:
        return minimal(s["oneOf"][0])
    kind = s.get("type", "string")
    if isinstance(kind, list):
        return minimal({**s, "type": kind[0]})
    return {"boolean": False, "integer": s.get("minimum", 0), "null": None, "array": [],
            "object": None}.get(kind, "x") if kind != "object" else minimal_object(s)


def minimal_object(s, but=None):
    return {key: minimal(s["properties"][key]) for key in s.get("required", []) if key != but}


def samples(s):
    s = resolve(s)
    if "oneOf" in s or "anyOf" in s:
        return [sample for branch in s.get("oneOf", []) + s.get("anyOf", []) for sample in samples(branch)]
    if isinstance(s.get("type"), list):
        return [None if kind == "null" else minimal({**s, "type": kind}) for kind in s["type"]]
    if "items" in s:
        return ([] if s.get("minItems", 0) else [[]]) + [[item] for item in samples(s["items"])]
    return [minimal(s)]


def levels(s, path, wrap, out):
    s = resolve(s)
    for branch in s.get("oneOf", []) + s.get("anyOf", []):
        levels(branch, path, wrap, out)
    if "items" in s:
        levels(s["items"], path + "[]", lambda value, wrap=wrap: wrap([value]), out)
    if "properties" not in s:
        return out
    out.append((path or "the top level", s, wrap))
    for key, child in s["properties"].items():
        def inside(value, s=s, key=key, wrap=wrap):
            return wrap({**minimal_object(s, key), key: value})
        levels(child, f"{path}.{key}" if path else key, inside, out)
    return out


def compiler_verdict(document):
    with tempfile.NamedTemporaryFile("w", suffix=".json") as probe:
        json.dump(document, probe)
        probe.flush()
        run = subprocess.run([BINARY, "validate", "--offline", probe.name], capture_output=True, text=True)
    errors = [line for line in run.stderr.splitlines() if ": error: " in line]
    errors = [line for line in errors if "which this state does not manage" not in line]
    return not errors, errors


OTHER_VALUES = [None, "x", 7, True, [], {}, ["x"]]
disagreements = 0
probes = 0
for path, obj, wrap in levels(STATE_SCHEMA, "", lambda value: value, []):
    unknown = wrap({**minimal_object(obj), "zzzzzzzzzzzzzzzzzzzz": 1})
    accepted, errors = compiler_verdict(unknown)
    if STATE_VALIDATOR.is_valid(unknown) or accepted or not any("unknown" in e for e in errors):
        disagreements += 1
        print(f"FAIL {path}: an unknown key is not refused by both: {json.dumps(unknown)}")
    probes += 1
    for key, child in obj["properties"].items():
        for value in samples(child) + OTHER_VALUES:
            document = wrap({**minimal_object(obj, key), key: value})
            schema_says = STATE_VALIDATOR.is_valid(document)
            compiler_says, errors = compiler_verdict(document)
            probes += 1
            if schema_says != compiler_says:
                disagreements += 1
                print(f"FAIL {path}.{key} = {json.dumps(value)}: the schema "
                      f"{'accepts' if schema_says else 'refuses'}, reconcile {'accepts' if compiler_says else 'refuses'}"
                      f"{': ' + errors[0] if errors else ''}")
checked += 1
failures += 1 if disagreements else 0
print(f"{'ok  ' if not disagreements else 'FAIL'} state schema against the compiler at every depth: "
      f"{probes} documents, {disagreements} disagreements")

# Reports: a dry run, an input error, and an apply on a throwaway root.
with tempfile.TemporaryDirectory() as root:
    root = pathlib.Path(root)
    (root / "etc").mkdir()
    (root / "usr/share/zoneinfo/Etc").mkdir(parents=True)
    (root / "usr/share/zoneinfo/Etc/UTC").write_bytes(pathlib.Path("/usr/share/zoneinfo/Etc/UTC").read_bytes())
    (root / "etc/localtime").symlink_to("/usr/share/zoneinfo/Etc/GMT")
    good = root / "good.yaml"
    good.write_text("timezone: Etc/UTC\n")
    bad = root / "bad.yaml"
    bad.write_text("timezon: Etc/UTC\n")
    for args, name in (([str(good), "--dry-run"], "dry-run report"), ([str(bad)], "input-error report"),
                       ([str(good)], "apply report")):
        run = subprocess.run([BINARY, f"--root={root}", "--format=json", *args], capture_output=True, text=True)
        check("report.schema.json", json.loads(run.stdout), name)

print(f"{checked - failures} passed, {failures} failed")
sys.exit(1 if failures else 0)
