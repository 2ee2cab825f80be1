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
        check("state.schema.json", json.loads(example.read_text()), example.relative_to(SOURCE))

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
