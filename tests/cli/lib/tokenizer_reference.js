// The independent reference for pride's tokenizers: @lenml/tokenizers (a dependency-free fork of
// transformers.js) on the same tokenizer.json. Shares no code with pride.
//   node tokenizer_reference.js NODE_MODULES TOKENIZER_DIR encode [--add-special] < lines > ids
//   node tokenizer_reference.js NODE_MODULES TOKENIZER_DIR decode < ids > lines
// Input lines are bytes split at '\n'; each line is decoded to a JS string with the WHATWG
// TextDecoder (invalid UTF-8 becomes U+FFFD per maximal subpart, a leading BOM is kept), which is what pride's encoder
// does with invalid input too. Decoding keeps special tokens and skips transformers' English
// clean-up of spaces (clean_up_tokenization_spaces), which the tokenizer.json itself never does.
"use strict";
const fs = require("fs");
const path = require("path");

const [nodeModules, tokenizerDir, mode, ...flags] = process.argv.slice(2);
const { TokenizerLoader } = require(path.join(nodeModules, "@lenml/tokenizers"));
const readJson = (name) => JSON.parse(fs.readFileSync(path.join(tokenizerDir, name), "utf8"));
const tokenizer = TokenizerLoader.fromPreTrained({
  tokenizerJSON: readJson("tokenizer.json"),
  tokenizerConfig: readJson("tokenizer_config.json"),
});

function lines(buffer) {
  const out = [];
  let start = 0;
  for (let i = buffer.indexOf(10, start); i >= 0; i = buffer.indexOf(10, start)) {
    out.push(buffer.subarray(start, i));
    start = i + 1;
  }
  if (start < buffer.length) out.push(buffer.subarray(start));
  return out;
}

const decoder = new TextDecoder("utf-8", { ignoreBOM: true });  // keep a leading U+FEFF: it is text
const input = lines(fs.readFileSync(0));
const addSpecial = flags.includes("--add-special");
const output = [];
const started = process.hrtime.bigint();
for (const line of input) {
  if (mode === "encode") {
    output.push(JSON.stringify(tokenizer.encode(decoder.decode(line), { add_special_tokens: addSpecial })));
  } else {
    const ids = JSON.parse(decoder.decode(line));
    output.push(ids.length === 0 ? "" : tokenizer.decode(ids, { skip_special_tokens: false,
                                                                 clean_up_tokenization_spaces: false }));
  }
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
fs.writeFileSync(1, output.map((x) => x + "\n").join(""));
// The encode loop's time alone (no loading), for scripts/bench/tokenize.sh.
const timing = process.env.TOKENIZER_REFERENCE_TIMING;
if (timing) fs.writeFileSync(timing, `${seconds}\n`);
