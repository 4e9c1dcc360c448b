// A check run on TOML text before toml++ sees it.
//
// toml++ 3.3 (Debian 12's) reaches __builtin_unreachable() -- undefined behaviour -- when it
// asks whether certain non-ASCII characters are whitespace (U+00A1-U+0499, U+2D6E-U+3167,
// U+FB46-U+FEFE; found by the config fuzzer). It asks that wherever it reads tokens, and on
// malformed input its idea of where a string starts differs from any simple scanner's. So
// plby accepts non-ASCII characters only in comments, where both agree: every value plby reads
// (addresses, names, durations, keywords, paths) is ASCII anyway.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace plby::config {

// `text` without the UTF-8 byte-order mark that some editors (Notepad, among others) put at the
// start of a file; positions after it count as the editor shows them.
absl::string_view WithoutByteOrderMark(absl::string_view text);

// OK, or InvalidArgument "SOURCE:LINE:COLUMN: ..." for a non-ASCII byte outside a comment.
absl::Status CheckNonAsciiOnlyInComments(absl::string_view text, absl::string_view source_name);

}  // namespace plby::config
