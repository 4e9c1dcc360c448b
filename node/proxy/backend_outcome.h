// What the forwarder does and reports with a backend, the same for a relayed connection and an
// HTTP exchange: the non-blocking connect, connect failures (counted, logged rate-limited, and
// marked against the backend's passive health), and passive health marks.
#pragma once

#include "absl/strings/string_view.h"
#include "net/socket_address.h"
#include "net/unique_fd.h"
#include "pool/backend.h"
#include "pool/pool.h"
#include "proxy/worker_context.h"

namespace plby::proxy {

// socket(2), TCP_NODELAY and a non-blocking connect(2) to `address`: 0 with `fd` set (the
// connect done or under way), else the errno of the failure.
int StartBackendConnect(const net::SocketAddress& address, net::UniqueFd& fd);

// One more bad outcome in a row for `backend` (a failed connect, a reset, with HTTP a 5xx):
// reported to the health checker once, when the streak reaches the pool's passive_failures.
void NotePassiveFailure(WorkerContext& context, pool::Pool& pool, const pool::Backend& backend);

// A connect to `backend` failed with `error` (`detail`, when set, says more: a TLS handshake's
// failure): counted for the worker and the backend, marked, and logged (rate-limited).
void NoteConnectFailure(WorkerContext& context, pool::Pool& pool, const pool::Backend& backend,
                        int error, absl::string_view detail = "");

}  // namespace plby::proxy
