#include "engine/executor.h"

namespace carclass {

Executor& Executor::Shared() {
  static Executor* instance = new Executor();
  return *instance;
}

Executor::Executor() : thread_([this] { Loop(); }) { thread_.detach(); }

void Executor::Post(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push_back(std::move(job));
  }
  ready_.notify_one();
}

void Executor::Loop() {
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      ready_.wait(lock, [this] { return !jobs_.empty(); });
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

}  // namespace carclass
