// libFuzzer target: config.toml parsing and validation must never crash, hang or read out of
// bounds, whatever the bytes, read as a node's config or as plbyctl apply's file. Names are not
// resolved and files not read (see ParseOptions).
#include <cstddef>
#include <cstdint>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  (void)plby::config::ParseConfig(text, "fuzz.toml", {.touch_the_world = false});
  // The same bytes as a file of desired pools (plbyctl apply -f): servers optional.
  (void)plby::config::ParseConfig(text, "fuzz.toml",
                                  {.touch_the_world = false, .desired_pools = true});
  return 0;
}
