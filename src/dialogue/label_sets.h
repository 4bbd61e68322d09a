// The named emotion label sets a dialogue sample's `emotion` comes from (docs/dialogue-text.md).
#pragma once

#include <string>
#include <vector>

namespace pride::dialogue {

struct LabelSet {
  std::string name;
  std::vector<std::string> labels;  // the class index of a label is its position here

  // The index of `label`, or -1 when it is not in the set.
  int index_of(const std::string& label) const;
};

inline constexpr const char* kEmpatheticDialogues32 = "empathetic-dialogues-32";
inline constexpr const char* kMeld7 = "meld-7";
inline constexpr const char* kEsconv11 = "esconv-11";

// The set called `name`; an unknown name is a pride::Error listing the known ones.
const LabelSet& label_set(const std::string& name);
// Names of every known set, comma-separated (for messages and help).
std::string label_set_names();

}  // namespace pride::dialogue
