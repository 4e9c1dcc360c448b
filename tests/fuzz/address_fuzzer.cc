// libFuzzer target: the address grammar (net/host_port), which reads what control API callers
// and plbyctl users send. Whatever it accepts must have one canonical form, which parses back
// to the same address; whatever it refuses, it refuses with a message of bounded size.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "net/host_port.h"
#include "text/quote.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  for (plby::net::AddressUse use :
       {plby::net::AddressUse::kListen, plby::net::AddressUse::kConnect}) {
    absl::StatusOr<plby::net::HostPort> parsed = plby::net::ParseHostPort(text, use);
    if (!parsed.ok()) {
      // The value is quoted in part: the message stays small whatever came in.
      if (parsed.status().message().size() > 1000) std::abort();
      continue;
    }
    const std::string canonical = parsed->ToString();
    absl::StatusOr<plby::net::HostPort> again = plby::net::ParseHostPort(canonical, use);
    if (!again.ok() || !(*again == *parsed) || again->ToString() != canonical) std::abort();
  }
  if (plby::text::Quote(text).size() > 4 * plby::text::kQuotedPrefix + 64) std::abort();
  return 0;
}
