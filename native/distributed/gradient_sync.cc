#include "distributed/gradient_sync.h"

#include <ATen/core/ivalue.h>

#include <stdexcept>

namespace carclass::distributed {

namespace {
using Clock = std::chrono::steady_clock;
double Since(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }
constexpr int64_t kExtras = 2;  // [local batch size, local loss not finite]
}  // namespace

BucketedGradientSync::BucketedGradientSync(std::shared_ptr<Communicator> comm, GradientSyncOptions options)
    : comm_(std::move(comm)), options_(options) {
  if (!(options_.bucketMegabytes > 0)) throw std::invalid_argument("bucketMegabytes must be positive");
}

BucketedGradientSync::~BucketedGradientSync() {
  if (hooked_) Unhook(*hooked_);
}

void BucketedGradientSync::Unhook(Network& net) {
  auto& params = net.params();
  for (const auto& [p, id] : hooks_)
    if (size_t(p) < params.size()) params[size_t(p)].value.remove_hook(id);
  hooks_.clear();
  hooked_ = nullptr;
}

// Buckets follow the reverse param order (roughly the order backward produces gradients) and are
// rebuilt when trainability changes (two-stage training): every rank changes it at the same epoch.
void BucketedGradientSync::Rebuild(Network& net) {
  if (hooked_) Unhook(*hooked_);
  auto& params = net.params();
  trainableSignature_.assign(params.size(), false);
  buckets_.clear();
  const int64_t capBytes = static_cast<int64_t>(options_.bucketMegabytes * 1024 * 1024);
  Bucket current;
  int64_t bytes = 0;
  auto close = [&] {
    if (current.params.empty()) return;
    buckets_.push_back(std::move(current));
    current = Bucket();
    bytes = 0;
  };
  for (int i = static_cast<int>(params.size()) - 1; i >= 0; --i) {
    const auto& v = params[size_t(i)].value;
    if (!v.requires_grad()) continue;
    trainableSignature_[size_t(i)] = true;
    const int64_t size = v.numel() * static_cast<int64_t>(v.element_size());
    if (!current.params.empty() && bytes + size > capBytes) close();
    current.params.push_back(i);
    bytes += size;
  }
  close();
  seen_.assign(buckets_.size(), {});
  for (size_t b = 0; b < buckets_.size(); ++b) {
    Bucket& bucket = buckets_[b];
    int64_t total = 0;
    for (int p : bucket.params) {
      bucket.offsets.push_back(total);
      total += params[size_t(p)].value.numel();
    }
    const auto& first = params[size_t(bucket.params[0])].value;
    bucket.flat = torch::zeros({total + kExtras}, first.options().requires_grad(false));
    seen_[b].assign(bucket.params.size(), false);
    for (size_t s = 0; s < bucket.params.size(); ++s) {
      const int p = bucket.params[s];
      const int bi = static_cast<int>(b), si = static_cast<int>(s);
      const unsigned id = params[size_t(p)].value.register_hook([this, bi, si](torch::Tensor grad) { OnGrad(bi, si, grad); });
      hooks_.emplace_back(p, id);
    }
  }
  hooked_ = &net;
}

void BucketedGradientSync::BeforeBackward(Network& net, int64_t batchSize, bool lossFinite) {
  auto& params = net.params();
  bool changed = hooked_ != &net || trainableSignature_.size() != params.size();
  for (size_t i = 0; !changed && i < params.size(); ++i) changed = trainableSignature_[i] != params[i].value.requires_grad();
  if (changed) Rebuild(net);
  std::lock_guard<std::mutex> lock(mutex_);
  localBatch_ = static_cast<double>(batchSize);
  localNotFinite_ = lossFinite ? 0.0 : 1.0;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    Bucket& bucket = buckets_[b];
    bucket.pending = static_cast<int>(bucket.params.size());
    bucket.work.reset();
    bucket.doneNs->store(0);
    std::fill(seen_[b].begin(), seen_[b].end(), false);
  }
  nextLaunch_ = 0;
  armed_ = true;
  globalEmpty_ = false;
  comm_->SetStep(++step_);
  backwardStart_ = Clock::now();
}

void BucketedGradientSync::OnGrad(int b, int s, const torch::Tensor& grad) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!armed_) return;  // e.g. Grad-CAM's autograd::grad: not a training step
  Bucket& bucket = buckets_[size_t(b)];
  torch::NoGradGuard noGrad;
  auto view = bucket.flat.narrow(0, bucket.offsets[size_t(s)], grad.numel()).view(grad.sizes());
  // Sums over the local batch (the loss is a batch mean), divided by the global batch after the reduce.
  if (seen_[size_t(b)][size_t(s)]) {
    view.add_(grad, localBatch_);
    return;
  }
  view.copy_(grad);
  view.mul_(localBatch_);
  seen_[size_t(b)][size_t(s)] = true;
  if (--bucket.pending == 0 && options_.overlap) LaunchReady(false);
}

void BucketedGradientSync::Launch(Bucket& b) {
  const int64_t n = b.flat.numel();
  b.flat.narrow(0, n - kExtras, 1).fill_(localBatch_);
  b.flat.narrow(0, n - 1, 1).fill_(localNotFinite_);
  b.launched = Clock::now();
  b.work = comm_->AllreduceSumAsync(b.flat);
  auto done = b.doneNs;
  b.work->getFuture()->addCallback([done](c10::ivalue::Future&) { done->store(Clock::now().time_since_epoch().count()); });
}

// Launches buckets strictly in index order; `all` also launches those still waiting for gradients
// (params unused by this step's graph contribute zeros).
void BucketedGradientSync::LaunchReady(bool all) {
  while (nextLaunch_ < buckets_.size()) {
    Bucket& b = buckets_[nextLaunch_];
    if (b.pending > 0 && !all) break;
    if (b.pending > 0) {
      for (size_t s = 0; s < b.params.size(); ++s)
        if (!seen_[nextLaunch_][s]) {
          const int64_t len = (s + 1 < b.offsets.size() ? b.offsets[s + 1] : b.flat.numel() - kExtras) - b.offsets[s];
          b.flat.narrow(0, b.offsets[s], len).zero_();
        }
      b.pending = 0;
    }
    Launch(b);
    ++nextLaunch_;
  }
}

bool BucketedGradientSync::AfterBackward(Network& net) {
  const auto backwardEnd = Clock::now();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    armed_ = false;
    LaunchReady(true);
  }
  const std::string what = "gradient all-reduce at step " + std::to_string(step_);
  double globalNotFinite = 0;
  auto& params = net.params();
  torch::NoGradGuard noGrad;
  for (Bucket& b : buckets_) {
    comm_->Wait(b.work, what);
    const int64_t n = b.flat.numel();
    auto extras = b.flat.narrow(0, n - kExtras, kExtras).to(torch::kCPU, torch::kFloat64);
    const double globalBatch = extras[0].item<double>();
    globalNotFinite = std::max(globalNotFinite, extras[1].item<double>());
    globalEmpty_ = !(globalBatch > 0);  // every replica skipped this step's batch: no update anywhere
    for (size_t s = 0; s < b.params.size(); ++s) {
      auto& p = params[size_t(b.params[s])].value;
      if (globalEmpty_) {
        p.mutable_grad() = torch::Tensor();
        continue;
      }
      auto avg = b.flat.narrow(0, b.offsets[s], p.numel()).view(p.sizes());
      if (p.grad().defined()) {
        p.mutable_grad().copy_(avg);
        p.mutable_grad().div_(globalBatch);
      } else {
        p.mutable_grad() = (avg / globalBatch).contiguous(p.suggest_memory_format());
      }
    }
  }
  const auto end = Clock::now();
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.steps += 1;
  stats_.buckets += static_cast<int64_t>(buckets_.size());
  stats_.backwardSeconds += Since(backwardStart_, backwardEnd);
  stats_.exposedSeconds += Since(backwardEnd, end);
  if (!buckets_.empty()) {
    auto last = buckets_.front().launched;
    for (const Bucket& b : buckets_) {
      const int64_t ns = b.doneNs->load();
      last = std::max(last, ns ? Clock::time_point(Clock::duration(ns)) : end);
    }
    stats_.commSeconds += Since(buckets_.front().launched, last);
  }
  double bytes = 0;
  for (const Bucket& b : buckets_) bytes += static_cast<double>(b.flat.numel() * static_cast<int64_t>(b.flat.element_size()));
  stats_.bucketBytes = bytes;
  return globalNotFinite > 0;
}

GradientSyncStats BucketedGradientSync::Stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void BucketedGradientSync::ResetStats() {
  std::lock_guard<std::mutex> lock(mutex_);
  const double bytes = stats_.bucketBytes;
  stats_ = GradientSyncStats();
  stats_.bucketBytes = bytes;
}

}  // namespace carclass::distributed
