#include "grpc_probe.h"

#include <grpcpp/client_context.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>

#include <chrono>

namespace plby::testing {
namespace {

constexpr std::chrono::seconds kDeadline{10};

grpc::ByteBuffer ToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string FromBuffer(const grpc::ByteBuffer& buffer) {
  grpc::Slice slice;
  if (!buffer.TrySingleSlice(&slice).ok()) {
    if (!buffer.DumpToSingleSlice(&slice).ok()) return "";
  }
  return std::string(reinterpret_cast<const char*>(slice.begin()), slice.size());
}

// Waits for the completion of the operation tagged `tag`.
bool Await(grpc::CompletionQueue& queue, intptr_t tag) {
  void* got = nullptr;
  bool ok = false;
  while (queue.Next(&got, &ok)) {
    if (reinterpret_cast<intptr_t>(got) == tag) return ok;
  }
  return false;
}

absl::Status ToAbsl(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace

absl::StatusOr<int> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                const std::string& service) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kDeadline);
  grpc::CompletionQueue queue;
  // HealthCheckRequest { string service = 1; }
  std::string request;
  if (!service.empty()) {
    request.push_back('\x0a');
    request.push_back(static_cast<char>(service.size()));
    request += service;
  }
  auto call =
      stub.PrepareUnaryCall(&context, "/grpc.health.v1.Health/Check", ToBuffer(request), &queue);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  Await(queue, 1);
  queue.Shutdown();
  void* ignored_tag;
  bool ignored_ok;
  while (queue.Next(&ignored_tag, &ignored_ok)) {
  }
  if (!status.ok()) return ToAbsl(status);
  // HealthCheckResponse { ServingStatus status = 1; }: "\x08" then the number; absent is 0.
  const std::string bytes = FromBuffer(response);
  if (bytes.size() >= 2 && bytes[0] == '\x08') return static_cast<int>(bytes[1]);
  return 0;
}

absl::StatusOr<std::string> ListServicesByReflection(
    const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kDeadline);
  grpc::CompletionQueue queue;
  auto call = stub.PrepareCall(
      &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &queue);
  call->StartCall(reinterpret_cast<void*>(1));
  std::string answer;
  if (Await(queue, 1)) {
    // ServerReflectionRequest { string list_services = 7; } with an empty string.
    call->Write(ToBuffer(std::string("\x3a\x00", 2)), reinterpret_cast<void*>(2));
    Await(queue, 2);
    call->WritesDone(reinterpret_cast<void*>(3));
    Await(queue, 3);
    grpc::ByteBuffer response;
    call->Read(&response, reinterpret_cast<void*>(4));
    if (Await(queue, 4)) answer = FromBuffer(response);
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  Await(queue, 5);
  queue.Shutdown();
  void* ignored_tag;
  bool ignored_ok;
  while (queue.Next(&ignored_tag, &ignored_ok)) {
  }
  if (!status.ok()) return ToAbsl(status);
  return answer;
}

}  // namespace plby::testing
