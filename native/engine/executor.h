// One long-lived compute thread for all LibTorch work. Steps issued from changing libuv pool threads
// would each start their own OpenMP team and malloc arena (measured: +50% peak RSS on ResNet50V2);
// funnelling them through one thread keeps one team, one arena and warm caches, as in Python.
#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

namespace carclass {

class Executor {
 public:
  // The process-wide instance (never destroyed, so exit never waits on it).
  static Executor& Shared();

  // Runs `work` on the compute thread and blocks the caller until it finishes; rethrows its exception.
  template <typename Work>
  auto Run(Work work) -> decltype(work()) {
    using R = decltype(work());
    std::packaged_task<R()> task(std::move(work));
    auto future = task.get_future();
    Post([&task] { task(); });
    return future.get();
  }

 private:
  Executor();
  void Post(std::function<void()> job);
  void Loop();

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> jobs_;
  std::thread thread_;
};

}  // namespace carclass
