// Validates Circle's FHIR resources with npm fhir 4.12.0 (its bundled R4
// StructureDefinitions: cardinality, required bindings, unexpected properties).
//
//   node validate.js DIR
//
// DIR holds *.ndjson files (one resource a line) and *.json files (one resource each).
// Exits non-zero, naming each error, when any resource has one.
'use strict';
const fs = require('fs');
const path = require('path');
const { Fhir } = require('fhir');

const dir = process.argv[2];
const fhir = new Fhir();
const resources = [];
for (const f of fs.readdirSync(dir).sort()) {
  const text = fs.readFileSync(path.join(dir, f), 'utf8');
  if (f.endsWith('.ndjson')) {
    text.split('\n').forEach((line, i) => {
      if (line.trim()) resources.push([`${f}:${i + 1}`, JSON.parse(line)]);
    });
  } else if (f.endsWith('.json')) {
    resources.push([f, JSON.parse(text)]);
  }
}
if (resources.length === 0) {
  console.error(`no resources under ${dir}`);
  process.exit(1);
}
const failures = [];
const counts = {};
for (const [where, r] of resources) {
  const result = fhir.validate(r, { errorOnUnexpected: true });
  const errors = result.messages.filter((m) => m.severity === 'error');
  if (!result.valid || errors.length > 0) {
    for (const m of errors) failures.push(`${where} ${r.resourceType}/${r.id}: ${m.location}: ${m.message}`);
    if (errors.length === 0) failures.push(`${where} ${r.resourceType}/${r.id}: not valid`);
  } else {
    counts[r.resourceType] = (counts[r.resourceType] || 0) + 1;
  }
}
for (const k of Object.keys(counts).sort()) console.log(`   npm fhir: ${String(counts[k]).padStart(6)} ${k}`);
if (failures.length > 0) {
  console.error(failures.slice(0, 200).join('\n'));
  console.error(`npm fhir: ${failures.length} failures`);
  process.exit(1);
}
console.log(`   npm fhir: ${resources.length} resources valid`);
