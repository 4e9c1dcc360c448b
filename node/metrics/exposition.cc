#include "metrics/exposition.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace plby::metrics {

std::string LabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void ExpositionWriter::Family(absl::string_view name, absl::string_view type,
                              absl::string_view help) {
  absl::StrAppend(&out_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

void ExpositionWriter::Sample(absl::string_view name, absl::string_view labels, uint64_t value) {
  Line(name, labels, absl::StrCat(value));
}

void ExpositionWriter::Sample(absl::string_view name, absl::string_view labels, double value) {
  Line(name, labels, absl::StrFormat("%.3f", value));
}

void ExpositionWriter::Line(absl::string_view name, absl::string_view labels,
                            absl::string_view value) {
  if (labels.empty()) {
    absl::StrAppend(&out_, name, " ", value, "\n");
  } else {
    absl::StrAppend(&out_, name, "{", labels, "} ", value, "\n");
  }
}

}  // namespace plby::metrics
