// The fuzz target of `pride judge`'s response files (judge::read_responses): one JSON line per
// dialogue of a valid dialogue JSONL, lines damaged, dropped, doubled or given another id.
#include <nlohmann/json.hpp>

#include "dialogue/dialogue.h"
#include "fuzz.h"
#include "judge/judge.h"

namespace pride::fuzz {
namespace {

const char kDialogues[] =
    R"({"id": "d1", "label_set": "empathetic-dialogues-32", "emotion": "sad", "context": [{"speaker": "speaker", "text": "My dog died."}], "response": {"speaker": "listener", "text": "I am so sorry."}})"
    "\n"
    R"({"id": "d2", "label_set": "empathetic-dialogues-32", "emotion": "joyful", "context": [{"speaker": "speaker", "text": "I passed!"}], "response": {"speaker": "listener", "text": "Congratulations!"}})"
    "\n";

const std::vector<std::string>& response_words() {
  static const std::vector<std::string> words = {
      "id", "d1", "d2", "response", "hypothesis_text", "text", "sample", "reference"};
  return words;
}

Target responses_target() {
  Target target;
  target.name = "judge_responses";
  target.main_file = "responses.jsonl";
  target.seed = [](Rng&) {
    return Files{{"dialogues.jsonl", kDialogues},
                 {"responses.jsonl",
                  "{\"id\": \"d1\", \"response\": \"That is sad.\"}\n"
                  "{\"hypothesis_text\": \"Well done!\"}\n"}};
  };
  target.mutate = [](Files& files, Rng& rng) {
    mutate_json_lines(files["responses.jsonl"], rng, response_words());
  };
  target.run = [](const std::string& dir) {
    const auto dialogues = dialogue::read_dialogue_jsonl(dir + "/dialogues.jsonl");
    const auto responses =
        judge::read_responses(dir + "/responses.jsonl", "", "judge.a", dialogues);
    if (responses.size() != dialogues.size()) throw CheckFailed("accepted a wrong line count");
  };
  return target;
}

}  // namespace

std::vector<Target> judge_targets() {
  return {responses_target()};
}

}  // namespace pride::fuzz
