// Tokenizes a label_reference.py texts file with Hugging Face's `tokenizers` (the pinned npm
// package): {"prompts": [...], "labels": [...]} -> the same with ids, prompts with the special
// tokens the post-processor adds, labels without.
//   node encode_label_texts.js NODE_MODULES/tokenizers TOKENIZER.json TEXTS.json > IDS.json
const fs = require("fs");
const [modules, file, texts] = process.argv.slice(2);
const { Tokenizer } = require(modules);
(async () => {
  const tokenizer = Tokenizer.fromFile(file);
  const encode = async (text, addSpecialTokens) =>
    (await tokenizer.encodeBatch([text], { addSpecialTokens }))[0].getIds();
  const jobs = JSON.parse(fs.readFileSync(texts, "utf8"));
  const out = { prompts: [], labels: [] };
  for (const prompt of jobs.prompts) out.prompts.push(await encode(prompt, true));
  for (const label of jobs.labels) out.labels.push(await encode(label, false));
  process.stdout.write(JSON.stringify(out));
})();
