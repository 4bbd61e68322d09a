// A second independent reference: Hugging Face's own tokenizers library (the Rust code, through
// its Node binding `tokenizers`) on the same tokenizer.json. Same interface as
// tokenizer_reference.js:
//   node tokenizer_reference_hf.js NODE_MODULES TOKENIZER_DIR encode [--add-special] < lines > ids
//   node tokenizer_reference_hf.js NODE_MODULES TOKENIZER_DIR decode < ids > lines
"use strict";
const fs = require("fs");
const path = require("path");

async function main() {
  const [nodeModules, tokenizerDir, mode, ...flags] = process.argv.slice(2);
  const { Tokenizer } = require(path.join(nodeModules, "tokenizers"));
  const tokenizer = Tokenizer.fromFile(path.join(tokenizerDir, "tokenizer.json"));
  const buffer = fs.readFileSync(0);
  const lines = [];
  for (let start = 0; start < buffer.length;) {
    let end = buffer.indexOf(10, start);
    if (end < 0) end = buffer.length;
    lines.push(buffer.subarray(start, end));
    start = end + 1;
  }
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  const texts = lines.map((line) => decoder.decode(line));
  let output;
  const started = process.hrtime.bigint();
  if (mode === "encode") {
    const addSpecialTokens = flags.includes("--add-special");
    const encodings = await tokenizer.encodeBatch(texts, { addSpecialTokens });
    output = encodings.map((e) => JSON.stringify(e.getIds()));
  } else {
    output = await tokenizer.decodeBatch(texts.map((t) => JSON.parse(t)), false);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  fs.writeFileSync(1, output.map((x) => x + "\n").join(""));
  // The encode time alone (no loading), for scripts/bench/tokenize.sh.
  const timing = process.env.TOKENIZER_REFERENCE_TIMING;
  if (timing) fs.writeFileSync(timing, `${seconds}\n`);
}
main();
