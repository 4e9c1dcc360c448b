// toml++, as plby includes it.
#pragma once

#ifdef PLBY_TOML_NO_INTERNAL_ASSERTS
// The fuzz build compiles toml++ from its headers (so that its parser is instrumented). Its
// internal assertions are off there, as in Debian's release library: toml++ 3.3's parse_key()
// asserts on input such as "[$" that its own error path then reports as a syntax error, and
// the fuzzer is after real faults, not that.
#define TOML_ASSERT(expr) static_cast<void>(0)
#endif
#include <toml++/toml.h>
