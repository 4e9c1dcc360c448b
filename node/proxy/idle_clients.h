// IdleClients: the client connections of one worker that wait, idle, for their next HTTP request
// (or their first), the longest idle first. When the worker is out of descriptors or at its
// share of max_connections, it closes the longest idle of them to make room for a new client
// (nginx does the same with its keep-alive connections): otherwise idle clients, an attacker's
// among them, would lock every new one out. Intrusive and O(1): a client's place in the list is
// a hook it carries, so joining and leaving allocate nothing. The worker's thread only.
#pragma once

#include <cstddef>

namespace plby::proxy {

class Connection;

class IdleClients {
 public:
  // A client's place in the list, a member of the client it belongs to.
  struct Hook {
    explicit Hook(Connection* owner) : owner(owner) {}
    Connection* const owner;
    Hook* older = nullptr;
    Hook* newer = nullptr;
    bool linked = false;
  };

  // `hook`'s client became idle: it goes last (the most recently idle).
  void Add(Hook& hook) {
    if (hook.linked) return;
    hook.older = newest_;
    hook.newer = nullptr;
    if (newest_ != nullptr) newest_->newer = &hook;
    newest_ = &hook;
    if (oldest_ == nullptr) oldest_ = &hook;
    hook.linked = true;
    ++size_;
  }
  // It is busy again, or closed.
  void Remove(Hook& hook) {
    if (!hook.linked) return;
    (hook.older != nullptr ? hook.older->newer : oldest_) = hook.newer;
    (hook.newer != nullptr ? hook.newer->older : newest_) = hook.older;
    hook.older = hook.newer = nullptr;
    hook.linked = false;
    --size_;
  }
  // The client idle the longest, or null.
  Connection* Oldest() const { return oldest_ != nullptr ? oldest_->owner : nullptr; }
  size_t size() const { return size_; }

 private:
  Hook* oldest_ = nullptr;
  Hook* newest_ = nullptr;
  size_t size_ = 0;
};

}  // namespace plby::proxy
