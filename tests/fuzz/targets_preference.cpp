// The fuzz target of `pride data pairs` (preference::write_pairs, docs/dpo.md): TRL-style
// preference JSONL, plain text and chat messages, tokenized with a Llama 2 style tokenizer whose
// tokenizer_config.json carries a chat template. Lines are mutated as JSON, doubled or dropped,
// sometimes byte-damaged; an accepted file must give one pair per line with ids in the vocabulary
// and two non-empty responses, as the preference reader reads them back.
#include <nlohmann/json.hpp>

#include <fstream>

#include "data/preference.h"
#include "fuzz.h"
#include "preference/pairs.h"

namespace pride::fuzz {
namespace {

const char kTokenizerConfig[] =
    R"({"bos_token": "<s>", "eos_token": "</s>", "chat_template": "{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"})";

const char kPairs[] =
    R"({"prompt": "hi there", "chosen": "hi, how are you?", "rejected": "hm"})"
    "\n"
    R"({"prompt": [{"role": "user", "content": "hi"}], "chosen": [{"role": "assistant", "content": "hi!"}], "rejected": [{"role": "assistant", "content": "no"}]})"
    "\n";

const std::vector<std::string>& pair_words() {
  static const std::vector<std::string> words = {"prompt",  "chosen", "rejected",  "role",
                                                 "content", "user",   "assistant", "system",
                                                 "</s>",    "<s>",    "<m>",       ""};
  return words;
}

int64_t lines_in(const std::string& path) {
  std::ifstream in(path);
  int64_t count = 0;
  for (std::string line; std::getline(in, line);) {
    count += line.find_first_not_of(" \t\r") != std::string::npos;
  }
  return count;
}

Target pairs_target() {
  Target target;
  target.name = "preference_jsonl";
  target.main_file = "pairs.jsonl";
  target.seed = [](Rng&) {
    return Files{{"tokenizer.json", llama2_style_tokenizer_json()},
                 {"tokenizer_config.json", kTokenizerConfig},
                 {"pairs.jsonl", kPairs}};
  };
  target.mutate = [](Files& files, Rng& rng) {
    mutate_json_lines(files["pairs.jsonl"], rng, pair_words());
  };
  target.run = [](const std::string& dir) {
    preference::PairsOptions options;
    options.input = dir + "/pairs.jsonl";
    options.output = dir + "/pairs.h5";
    options.tokenizer = dir;
    preference::write_pairs(options);
    const PreferenceReader reader(options.output);
    check(reader.size() == lines_in(options.input), "not one pair per line");
    for (int64_t i = 0; i < reader.size(); ++i) {
      const Sample pair = reader.read(i, /*with_privileged=*/false);  // checks ids and emptiness
      check(!pair.response.empty() && !pair.rejected.empty(), "an empty response");
    }
  };
  return target;
}

}  // namespace

std::vector<Target> preference_targets() {
  return {pairs_target()};
}

}  // namespace pride::fuzz
