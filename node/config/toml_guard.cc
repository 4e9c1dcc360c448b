#include "config/toml_guard.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace plby::config {

absl::string_view WithoutByteOrderMark(absl::string_view text) {
  absl::ConsumePrefix(&text, "\xef\xbb\xbf");
  return text;
}

absl::Status CheckNonAsciiOnlyInComments(absl::string_view text, absl::string_view source_name) {
  enum class Where {
    kCode,
    kComment,
    kBasic,
    kBasicEscape,  // just after a backslash in a basic string
    kLiteral,
    kMultiBasic,
    kMultiBasicEscape,
    kMultiLiteral,
  };
  Where where = Where::kCode;
  int line = 1;
  int column = 1;
  for (size_t i = 0; i < text.size(); ++i, ++column) {
    const char c = text[i];
    const absl::string_view rest = text.substr(i);
    if (static_cast<unsigned char>(c) >= 0x80 && where != Where::kComment) {
      const bool bom = absl::StartsWith(rest, "\xef\xbb\xbf");
      return absl::InvalidArgumentError(absl::StrCat(
          source_name, ":", line, ":", column,
          bom ? ": a UTF-8 byte-order mark (U+FEFF) past the start of the file"
              : ": a non-ASCII character outside a comment",
          " (every plby setting is ASCII; non-ASCII text is accepted in comments only)"));
    }
    // Strings are followed only so that a '#' inside one does not start a comment.
    switch (where) {
      case Where::kCode:
        if (c == '#') {
          where = Where::kComment;
        } else if (absl::StartsWith(rest, "\"\"\"")) {
          where = Where::kMultiBasic;
          i += 2;
          column += 2;
        } else if (absl::StartsWith(rest, "'''")) {
          where = Where::kMultiLiteral;
          i += 2;
          column += 2;
        } else if (c == '"') {
          where = Where::kBasic;
        } else if (c == '\'') {
          where = Where::kLiteral;
        }
        break;
      case Where::kComment:
        if (c == '\n') where = Where::kCode;
        break;
      case Where::kBasic:
        if (c == '\\') {
          where = Where::kBasicEscape;  // the next character cannot end the string
        } else if (c == '"' || c == '\n') {
          where = Where::kCode;  // a newline ends it too (an error toml++ reports)
        }
        break;
      case Where::kLiteral:
        if (c == '\'' || c == '\n') where = Where::kCode;
        break;
      case Where::kMultiBasic:
        if (c == '\\') {
          where = Where::kMultiBasicEscape;
        } else if (absl::StartsWith(rest, "\"\"\"")) {
          where = Where::kCode;
          i += 2;
          column += 2;
        }
        break;
      case Where::kBasicEscape:
        where = Where::kBasic;
        break;
      case Where::kMultiBasicEscape:
        where = Where::kMultiBasic;
        break;
      case Where::kMultiLiteral:
        if (absl::StartsWith(rest, "'''")) {
          where = Where::kCode;
          i += 2;
          column += 2;
        }
        break;
    }
    if (i < text.size() && text[i] == '\n') {
      ++line;
      column = 0;
    }
  }
  return absl::OkStatus();
}

}  // namespace plby::config
