// Reads ahead: a background thread produces the items for steps [first, last) in order and keeps
// at most `capacity` of them waiting, so reading and collating overlap compute while memory stays
// bounded. An exception in the producer is re-thrown by next() on the consuming thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace pride {

template <typename T>
class Prefetcher {
 public:
  // capacity 0: no background thread, next() produces synchronously.
  Prefetcher(std::function<T(int64_t)> produce, int64_t first, int64_t last, size_t capacity)
      : produce_(std::move(produce)), next_step_(first), last_(last), capacity_(capacity) {
    if (capacity_ > 0) worker_ = std::thread([this] { run(); });
  }
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  ~Prefetcher() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    if (worker_.joinable()) worker_.join();
  }

  T next() {
    if (capacity_ == 0) return produce_(next_step_++);
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [this] { return !ready_.empty() || error_; });
    if (ready_.empty()) std::rethrow_exception(error_);
    T item = std::move(ready_.front());
    ready_.pop_front();
    changed_.notify_all();
    return item;
  }

 private:
  void run() {
    try {
      for (int64_t step = next_step_; step < last_; ++step) {
        {
          std::unique_lock<std::mutex> lock(mutex_);
          changed_.wait(lock, [this] { return stopping_ || ready_.size() < capacity_; });
          if (stopping_) return;
        }
        T item = produce_(step);
        std::lock_guard<std::mutex> lock(mutex_);
        ready_.push_back(std::move(item));
        changed_.notify_all();
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      error_ = std::current_exception();
      changed_.notify_all();
    }
  }

  std::function<T(int64_t)> produce_;
  int64_t next_step_, last_;
  size_t capacity_;
  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<T> ready_;
  std::exception_ptr error_;
  bool stopping_ = false;
};

}  // namespace pride
