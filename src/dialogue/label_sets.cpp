// The built-in emotion label sets, each in alphabetical order (a label's class index is its
// position).
#include "dialogue/label_sets.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "util/error.h"

namespace pride::dialogue {
namespace {

const std::vector<LabelSet>& all_sets() {
  static const std::vector<LabelSet> sets = {
      {kEmpatheticDialogues32,
       {"afraid",    "angry",       "annoyed",   "anticipating", "anxious",     "apprehensive",
        "ashamed",   "caring",      "confident", "content",      "devastated",  "disappointed",
        "disgusted", "embarrassed", "excited",   "faithful",     "furious",     "grateful",
        "guilty",    "hopeful",     "impressed", "jealous",      "joyful",      "lonely",
        "nostalgic", "prepared",    "proud",     "sad",          "sentimental", "surprised",
        "terrified", "trusting"}},
      {kMeld7, {"anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"}},
      {kEsconv11,
       {"anger", "anxiety", "depression", "disgust", "fear", "guilt", "jealousy", "nervousness",
        "pain", "sadness", "shame"}},
  };
  return sets;
}

}  // namespace

int LabelSet::index_of(const std::string& label) const {
  const auto it = std::find(labels.begin(), labels.end(), label);
  return it == labels.end() ? -1 : static_cast<int>(it - labels.begin());
}

const LabelSet& label_set(const std::string& name) {
  for (const LabelSet& set : all_sets()) {
    if (set.name == name) return set;
  }
  fail("unknown label set '{}' (known: {})", name, label_set_names());
}

std::string label_set_names() {
  std::vector<std::string> names;
  for (const LabelSet& set : all_sets()) names.push_back(set.name);
  return fmt::format("{}", fmt::join(names, ", "));
}

}  // namespace pride::dialogue
