// CSV records and plain comma splitting for the dialogue converters (see csv.h).
#include "dialogue/csv.h"

#include <fstream>
#include <sstream>

#include "io/file_io.h"
#include "util/error.h"

namespace pride::dialogue {

std::string read_text_without_bom(const std::string& path) {
  std::string text = read_text_file(path);
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);
  return text;
}

bool CsvReader::next(std::vector<std::string>& fields) {
  while (pos_ < text_.size() && (text_[pos_] == '\n' || text_.compare(pos_, 2, "\r\n") == 0)) {
    pos_ += text_[pos_] == '\n' ? 1 : 2;
    ++line_;
  }
  if (pos_ >= text_.size()) return false;
  fields.assign(1, std::string());
  record_line_ = line_;
  bool quoted = false;
  while (pos_ < text_.size()) {
    const char c = text_[pos_++];
    if (quoted) {
      if (c == '"' && pos_ < text_.size() && text_[pos_] == '"') {
        fields.back() += '"';
        ++pos_;
      } else if (c == '"') {
        quoted = false;
      } else {
        if (c == '\n') ++line_;
        fields.back() += c;
      }
    } else if (c == '"' && fields.back().empty()) {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c == '\n' || (c == '\r' && pos_ < text_.size() && text_[pos_] == '\n')) {
      pos_ += c == '\r' ? 1 : 0;
      ++line_;
      return true;
    } else {
      fields.back() += c;
    }
  }
  if (quoted) fail("{}:{}: a quoted field is never closed", file_, record_line_);
  return true;
}

std::vector<std::string> split_commas(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::vector<std::string> fields(1);
  for (const char c : line) {
    if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

std::string trim(std::string_view text) {
  const char* space = " \t\r\n\v\f";
  const size_t begin = text.find_first_not_of(space);
  if (begin == std::string_view::npos) return "";
  return std::string(text.substr(begin, text.find_last_not_of(space) - begin + 1));
}

int64_t parse_index(std::string_view text) {
  if (text.empty() || text.size() > 18 || (text.size() > 1 && text[0] == '0')) return -1;
  int64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return -1;
    value = value * 10 + (c - '0');
  }
  return value;
}

}  // namespace pride::dialogue
