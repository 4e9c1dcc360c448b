// libFuzzer target: the state file parser, which reads what a crash or a full disk may have
// left behind, must refuse garbage cleanly; what it accepts must survive a round trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "state/state_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<plby::state::State> state = plby::state::ParseState(text, "fuzz.toml");
  if (!state.ok()) return 0;
  absl::StatusOr<plby::state::State> again =
      plby::state::ParseState(plby::state::FormatState(*state), "again.toml");
  if (!again.ok() || again->pools.size() != state->pools.size()) std::abort();
  return 0;
}
