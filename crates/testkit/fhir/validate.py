"""Validates Circle's FHIR resources with PyPI fhir.resources 6.1.0 (pydantic 1): the exact
R4 4.0.1 models, which check cardinality, types and unknown elements.

    python validate.py DIR INTEROP_MD

DIR holds *.ndjson files (one resource a line) and *.json files (one resource each). Also
checks the LOINC codes of every Observation and Questionnaire against INTEROP.md's map.
Exits non-zero, naming each failure, when anything is wrong; prints a count per type.
"""
import collections
import json
import pathlib
import re
import sys

import fhir.resources
from fhir.resources import construct_fhir_element

if fhir.resources.__fhir_version__ != "4.0.1":
    sys.exit(f"fhir.resources models FHIR {fhir.resources.__fhir_version__}, not 4.0.1")

root, interop = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
text = interop.read_text()
# INTEROP.md: "LOINC PHQ-9 total 44261-6 (panel 44249-1), GAD-7 total 70274-6 (panel 69737-5)".
m = re.search(r"PHQ-9 total (\d+-\d) \(panel (\d+-\d)\), GAD-7 total (\d+-\d) \(panel (\d+-\d)\)", text)
if not m:
    sys.exit(f"{interop} does not state the PHQ-9/GAD-7 LOINC codes where expected")
totals = {m.group(1), m.group(3)}
panels = {m.group(2), m.group(4)}

resources = []
for f in sorted(root.glob("*.ndjson")):
    for n, line in enumerate(f.read_text().splitlines(), 1):
        if line.strip():
            resources.append((f"{f.name}:{n}", json.loads(line)))
for f in sorted(root.glob("*.json")):
    resources.append((f.name, json.loads(f.read_text())))
if not resources:
    sys.exit(f"no resources under {root}")

failures = []
counts = collections.Counter()
loinc_seen = set()
part2_consents = 0
interop_text = text
for where, r in resources:
    kind = r.get("resourceType")
    try:
        construct_fhir_element(kind, r)
    except Exception as e:  # noqa: BLE001 - every failure is reported, whatever its class
        failures.append(f"{where} {kind}/{r.get('id')}: {e}")
        continue
    counts[kind] += 1
    if kind == "Observation":
        for c in r["code"].get("coding", []):
            if c.get("system") == "http://loinc.org":
                loinc_seen.add(c["code"])
                if c["code"] not in totals:
                    failures.append(f"{where}: Observation code {c['code']} is not a total in INTEROP.md")
    if kind == "Consent" and r.get("policyRule"):
        # INTEROP.md: a Part 2 consent is a release of information (LOINC 64292-6) under
        # the v3 ActCode policy 42CFRPart2.
        codes = {c.get("code") for c in r["policyRule"].get("coding", [])}
        cats = {c.get("code") for cat in r.get("category", []) for c in cat.get("coding", [])}
        if "42CFRPart2" not in codes or "64292-6" not in cats:
            failures.append(f"{where}: Consent/{r.get('id')} is not a 42CFRPart2 release of information")
        elif "42CFRPart2" in interop_text and "64292-6" in interop_text:
            part2_consents += 1
    if kind == "Questionnaire":
        for c in r.get("code", []):
            if c.get("system") == "http://loinc.org":
                loinc_seen.add(c["code"])
                if c["code"] not in panels:
                    failures.append(f"{where}: Questionnaire code {c['code']} is not a panel in INTEROP.md")

for kind, n in sorted(counts.items()):
    print(f"   fhir.resources: {n:6d} {kind}")
if counts.get("Consent") and not part2_consents:
    failures.append("no Part 2 Consent (42CFRPart2, LOINC 64292-6 as INTEROP.md says) was emitted")
missing = (totals | panels) - loinc_seen
if missing:
    failures.append(f"LOINC codes of INTEROP.md never emitted: {sorted(missing)}")
if failures:
    print("\n".join(failures[:200]), file=sys.stderr)
    sys.exit(f"fhir.resources: {len(failures)} failures")
print(f"   fhir.resources: {len(resources)} resources valid; LOINC {sorted(loinc_seen)} as INTEROP.md says")
