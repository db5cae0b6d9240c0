// Validate an AsyncAPI document with the official parser; exit 0 only when it has no errors.
// Usage: node validate_asyncapi.mjs <asyncapi.json|yaml>
import { readFile } from "node:fs/promises";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const path = process.argv[2];
if (!path) {
  console.error("usage: node validate_asyncapi.mjs <document>");
  process.exit(2);
}
const parser = new Parser();
const { document, diagnostics } = await parser.parse(await readFile(path, "utf8"));
const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
for (const d of diagnostics) {
  const level = ["error", "warning", "info", "hint"][d.severity] ?? d.severity;
  console.error(`${level}: ${d.code}: ${d.message} at /${d.path.join("/")}`);
}
if (errors.length > 0 || !document) {
  console.error(`INVALID: ${errors.length} error(s)`);
  process.exit(1);
}
console.log(
  JSON.stringify({
    valid: true,
    asyncapi: document.version(),
    channels: document.channels().length,
    messages: document.components().messages().length,
    operations: document.operations().length,
  }),
);
