// A parsed Jinja chat template, rendered as Hugging Face's sandboxed Jinja2 environment renders
// it (trim_blocks, lstrip_blocks, loop controls, raise_exception, strftime_now, HF's tojson).
// Every error is a pride::Error naming the template and the line:column at fault.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

namespace pride::chat {

class SourceMap;
struct Stmt;

class Template {
 public:
  // `name` (a file path, or a description) prefixes error positions.
  Template(const std::string& source, std::string name);
  ~Template();
  Template(Template&&) noexcept;
  Template& operator=(Template&&) noexcept;

  // Renders with `variables`, a JSON object whose members become template variables.
  std::string render(const nlohmann::ordered_json& variables) const;
  const std::string& name() const { return name_; }
  const std::string& source() const { return source_; }  // as Jinja2 lexes it

 private:
  std::string name_;
  std::string source_;  // normalized as Jinja2 lexes it
  std::unique_ptr<SourceMap> map_;
  std::unique_ptr<std::vector<std::unique_ptr<Stmt>>> body_;
  std::vector<std::string> unassigned_;  // of the top-level frame
};

}  // namespace pride::chat
