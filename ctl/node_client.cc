#include "node_client.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace plby::ctl {

using Clock = std::chrono::system_clock;

absl::Status ToAbsl(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

bool WaitForConnected(grpc::Channel& channel, Clock::time_point deadline,
                      const std::function<bool()>& stopped) {
  while (!stopped || !stopped()) {
    const Clock::time_point slice =
        std::min(deadline, Clock::now() + std::chrono::milliseconds(200));
    if (channel.WaitForConnected(slice)) return true;
    if (slice >= deadline) return false;
  }
  return false;
}

bool NeverReachedTheNode(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE &&
         absl::StartsWith(status.error_message(), "failed to connect to all addresses");
}

NodeClient::NodeClient(const std::shared_ptr<grpc::Channel>& channel, absl::Duration timeout)
    : channel_(channel),
      stub_(v1::Control::NewStub(channel)),
      timeout_(timeout),
      deadline_(Clock::now() + absl::ToChronoMilliseconds(timeout)) {}

absl::Status NodeClient::NotConnected(const grpc::Status& first_failure) const {
  return absl::UnavailableError(absl::StrCat(first_failure.error_message(),
                                             " (not connected within ",
                                             absl::FormatDuration(timeout_), ", --timeout)"));
}

}  // namespace plby::ctl
