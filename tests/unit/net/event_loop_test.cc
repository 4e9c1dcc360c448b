#include "net/event_loop.h"

#include <sys/socket.h>

#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace plby::net {
namespace {

using ::testing::ElementsAre;

struct RecordingTimer final : TimerHandler {
  RecordingTimer(std::vector<std::string>* log, std::string name) : log(log), name(name) {}
  void OnTimer() override { log->push_back(name); }
  std::vector<std::string>* log;
  std::string name;
  Timer timer{this};
};

std::unique_ptr<EventLoop> NewLoop() {
  absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
  EXPECT_TRUE(loop.ok()) << loop.status();
  return *std::move(loop);
}

TEST(EventLoopTest, TimersFireInDeadlineOrderAndCancelledOnesDoNot) {
  auto loop = NewLoop();
  std::vector<std::string> fired;
  RecordingTimer late(&fired, "late"), early(&fired, "early"), cancelled(&fired, "cancelled"),
      middle(&fired, "middle");
  loop->ArmTimer(late.timer, 30);
  loop->ArmTimer(early.timer, 1);
  loop->ArmTimer(cancelled.timer, 2);
  loop->ArmTimer(middle.timer, 500);
  loop->ArmTimer(middle.timer, 10);  // re-arming moves it
  loop->CancelTimer(cancelled.timer);
  EXPECT_FALSE(cancelled.timer.armed());
  struct Stopper final : TimerHandler {
    EventLoop* loop;
    void OnTimer() override { loop->Stop(); }
  } stopper;
  stopper.loop = loop.get();
  Timer stop_timer(&stopper);
  loop->ArmTimer(stop_timer, 40);
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_THAT(fired, ElementsAre("early", "middle", "late"));
}

TEST(EventLoopTest, PostedWorkRunsOnTheLoopThread) {
  auto loop = NewLoop();
  std::thread::id ran_on;
  std::thread poster([&] {
    loop->Post([&] {
      ran_on = std::this_thread::get_id();
      loop->Stop();
    });
  });
  ASSERT_TRUE(loop->Run().ok());
  poster.join();
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

TEST(EventLoopTest, HandlersSeeEventsAndDeferredTasksRunAfterThem) {
  auto loop = NewLoop();
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair), 0);
  std::vector<std::string> order;
  struct Deferred final : DeferredTask {
    std::vector<std::string>* order;
    EventLoop* loop;
    void RunDeferred() override {
      order->push_back("deferred");
      loop->Stop();
    }
  } deferred;
  deferred.order = &order;
  deferred.loop = loop.get();
  struct Reader final : EventHandler {
    std::vector<std::string>* order;
    EventLoop* loop;
    DeferredTask* then;
    void OnEvents(uint32_t events) override {
      if (events & EPOLLIN) order->push_back("readable");
      loop->Defer(then);
      order->push_back("handler done");
    }
  } reader;
  reader.order = &order;
  reader.loop = loop.get();
  reader.then = &deferred;
  ASSERT_TRUE(loop->Add(pair[0], EPOLLIN | EPOLLET, &reader).ok());
  ASSERT_EQ(write(pair[1], "x", 1), 1);
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_THAT(order, ElementsAre("readable", "handler done", "deferred"));
  close(pair[0]);
  close(pair[1]);
}

}  // namespace
}  // namespace plby::net
