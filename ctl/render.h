// plbyctl's output: aligned tables for people, one JSON document for scripts.
#pragma once

#include <string>
#include <vector>

#include "cli.h"
#include "desired_pools.h"
#include "node_calls.h"
#include "sync.h"

namespace plby::ctl {

// The results of a one-shot command on every node, as a table of the nodes that succeeded.
std::string RenderTable(const Invocation& invocation, const std::vector<NodeResult>& results);

// The results of a one-shot command as one JSON document, failed nodes included:
// {"command": "...", "ok": bool, "nodes": [{"node": "...", "ok": bool, ...}, ...]}
std::string RenderJson(const Invocation& invocation, const std::vector<NodeResult>& results);

// One watch update: a block of lines, or (JSON) one object on one line.
std::string RenderWatchUpdate(OutputFormat format, const std::string& node,
                              const v1::WatchBackendsResponse& update);

// diff and apply: every change planned or made, one row each (nodes in sync have none), then
// one summary line: "apply: 10 nodes, 3 changed, 7 in sync, 0 failed".
std::string RenderSyncTable(const Invocation& invocation, const std::vector<NodeSync>& nodes);
std::string RenderSyncSummary(const Invocation& invocation, const std::vector<NodeSync>& nodes);
// The same as one JSON document: {"command", "ok", "file", "content_hash", "nodes": [...],
// "summary": {...}}.
std::string RenderSyncJson(const Invocation& invocation, const DesiredPools& desired,
                           const std::vector<NodeSync>& nodes);

// A failed node, for stderr: "plbyctl: NODE: CODE: message".
std::string RenderFailure(const std::string& node, const absl::Status& error);

}  // namespace plby::ctl
