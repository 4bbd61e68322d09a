// Reading the published dialogue CSVs: RFC 4180 records (quoted fields holding commas, doubled
// quotes and newlines; MELD) and plain comma-split lines (EmpatheticDialogues, which quotes
// nothing). Both remember the line each record starts on, for error messages.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pride::dialogue {

// The whole file (pride::read_text_file) without the UTF-8 byte order mark that spreadsheet
// exports put at its start.
std::string read_text_without_bom(const std::string& path);

// RFC 4180 records of `text`: fields separated by ',', records by "\n" or "\r\n"; a field that
// starts with '"' runs to the next lone '"' and may hold commas, "" (one quote) and line breaks.
// As Python's csv module does, characters after a closing quote are appended to the field. An
// unterminated quote is a pride::Error naming `file` and the line where the record began.
class CsvReader {
 public:
  CsvReader(std::string_view text, std::string file) : text_(text), file_(std::move(file)) {}
  // The next record's fields; false at the end. Blank lines are skipped.
  bool next(std::vector<std::string>& fields);
  int64_t record_line() const { return record_line_; }  // 1-based line the last record began on

 private:
  std::string_view text_;
  std::string file_;
  size_t pos_ = 0;
  int64_t line_ = 1, record_line_ = 0;
};

// `line` split at every ',' (no quoting), a trailing '\r' removed.
std::vector<std::string> split_commas(std::string_view line);

// `text` without leading and trailing ASCII white space.
std::string trim(std::string_view text);

// A non-negative decimal integer with no sign, space or superfluous leading zero, or -1.
int64_t parse_index(std::string_view text);

}  // namespace pride::dialogue
