// Worker threads kept between calls, and parallel_for over them.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

// Worker threads kept between calls: starting a std::thread per call costs tens of microseconds,
// as much as the work on a tensor of a few hundred thousand elements. run(n, fn) calls fn(0) on
// the caller and fn(1) ... fn(n-1) on workers, all at once (the encoder's threads wait for each
// other), and returns when all have returned. One call uses the workers at a time; a concurrent
// call (another Python thread) starts threads of its own for that call (run_spawned).
class WorkerPool {
 public:
  void run(int n, const std::function<void(int)>& fn) {
    if (n <= 1) { fn(0); return; }
    std::unique_lock<std::mutex> busy(run_mu_, std::try_to_lock);
    if (!busy.owns_lock()) { run_spawned(n, fn); return; }
    {
      std::lock_guard<std::mutex> lk(mu_);
      while ((int)workers_.size() < n - 1) {
        const int idx = (int)workers_.size() + 1;
        workers_.emplace_back([this, idx] { work(idx); });
      }
      job_ = &fn;
      job_n_ = n;
      pending_.store(n - 1, std::memory_order_relaxed);
      gen_.fetch_add(1, std::memory_order_release);
      if (sleepers_) cv_.notify_all();   // spinning workers see gen_ change by themselves
    }
    fn(0);
    for (int i = 0; i < kSpins && pending_.load(std::memory_order_acquire) != 0; ++i) cpu_relax();
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [this] { return pending_.load(std::memory_order_relaxed) == 0; });
    job_ = nullptr;
  }

  static void run_spawned(int n, const std::function<void(int)>& fn) {
    std::vector<std::thread> threads;
    threads.reserve(n - 1);
    for (int i = 1; i < n; ++i) threads.emplace_back(fn, i);
    fn(0);
    for (auto& th : threads) th.join();
  }

  // The pool of this process. Never destroyed (idle workers simply end with the process); a
  // forked child gets a new, empty one, since the parent's workers do not exist there (the old
  // one, whose locks may have been held at the fork, is left alone).
  static WorkerPool& get() {
    static std::atomic<WorkerPool*> pool{nullptr};
    WorkerPool* p = pool.load(std::memory_order_acquire);
    while (!p || p->pid_ != getpid()) {
      WorkerPool* fresh = new WorkerPool();          // no threads yet: cheap to drop
      if (pool.compare_exchange_strong(p, fresh, std::memory_order_acq_rel)) return *fresh;
      delete fresh;                                  // another thread installed one: use it
    }
    return *p;
  }

 private:
  const pid_t pid_ = getpid();

  // A worker spins for a while (~50 us) before it sleeps: compressing tensor after tensor, the
  // next call usually comes sooner, and waking a sleeping thread (a halted vCPU in a VM) costs
  // tens of microseconds.
  void work(int idx) {
    uint64_t seen = 0;
    for (;;) {
      for (int i = 0; i < kSpins && gen_.load(std::memory_order_acquire) == seen; ++i) cpu_relax();
      std::unique_lock<std::mutex> lk(mu_);
      if (gen_.load(std::memory_order_relaxed) == seen) {
        ++sleepers_;
        cv_.wait(lk, [&] { return gen_.load(std::memory_order_relaxed) != seen; });
        --sleepers_;
      }
      seen = gen_.load(std::memory_order_relaxed);
      if (idx >= job_n_) continue;
      const std::function<void(int)>* f = job_;
      lk.unlock();
      (*f)(idx);
      lk.lock();
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) done_cv_.notify_one();
    }
  }

  static void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::this_thread::yield();
#endif
  }
  static constexpr int kSpins = 4000;

  std::mutex run_mu_, mu_;
  std::condition_variable cv_, done_cv_;
  std::vector<std::thread> workers_;
  const std::function<void(int)>* job_ = nullptr;
  int job_n_ = 0, sleepers_ = 0;
  std::atomic<int> pending_{0};
  std::atomic<uint64_t> gen_{0};
};

// Items [0, count) over up to nthreads threads; each thread takes `grain` items at a time, in
// ascending order (or descending with reverse). fn(item, thread_index).
template <typename F>
void parallel_for(int64_t count, int nthreads, int64_t grain, bool reverse, F fn) {
  if (count <= 0) return;
  const int64_t pieces = (count + grain - 1) / grain;
  nthreads = (int)std::max<int64_t>(1, std::min<int64_t>(nthreads, pieces));
  auto run = [&](int ti, std::atomic<int64_t>* next) {
    for (;;) {
      const int64_t p = next->fetch_add(1);
      if (p >= pieces) break;
      const int64_t q = reverse ? pieces - 1 - p : p;
      const int64_t e = std::min(count, (q + 1) * grain);
      for (int64_t i = q * grain; i < e; ++i) fn(i, ti);
    }
  };
  std::atomic<int64_t> next{0};
  if (nthreads == 1) { run(0, &next); return; }
  WorkerPool::get().run(nthreads, [&](int ti) { run(ti, &next); });
}

}  // namespace
