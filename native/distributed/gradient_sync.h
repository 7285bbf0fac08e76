// DDP-style gradient averaging: trainable params grouped in reverse order into ~25 MB buckets; a grad
// hook copies each gradient (times the local batch size) into its bucket, and a full bucket is
// all-reduced at once while backward goes on with earlier layers. Buckets are launched in index
// order on every rank (collectives must match). After backward the sums are divided by the global
// batch size, carried in each bucket, so replicas with unequal batches still average exactly.
#pragma once
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "distributed/communicator.h"
#include "engine/engine.h"

namespace carclass::distributed {

struct GradientSyncOptions {
  double bucketMegabytes = 25;
  bool overlap = true;  // false: every bucket waits until backward has finished (to measure the overlap)
};

struct GradientSyncStats {
  int64_t steps = 0, buckets = 0;
  double backwardSeconds = 0;  // BeforeBackward -> end of backward
  double exposedSeconds = 0;   // waiting for all-reduces after backward (not hidden behind compute)
  double commSeconds = 0;      // first launch -> last completion, per step
  double bucketBytes = 0;      // bytes all-reduced per step
};

class BucketedGradientSync : public GradientSync {
 public:
  BucketedGradientSync(std::shared_ptr<Communicator> comm, GradientSyncOptions options);
  ~BucketedGradientSync() override;

  void BeforeBackward(Network& net, int64_t batchSize, bool lossFinite) override;
  bool AfterBackward(Network& net) override;
  bool GlobalBatchEmpty() const override { return globalEmpty_; }

  GradientSyncStats Stats() const;
  void ResetStats();

 private:
  struct Bucket {
    std::vector<int> params;        // indices into Network::params
    std::vector<int64_t> offsets;   // element offset of each param in `flat`
    torch::Tensor flat;             // gradients, then [batch size, non-finite flag]
    int pending = 0;
    c10::intrusive_ptr<c10d::Work> work;
    std::chrono::steady_clock::time_point launched;
    // Set by the work's completion callback, which may still run after Wait() returned.
    std::shared_ptr<std::atomic<int64_t>> doneNs = std::make_shared<std::atomic<int64_t>>(0);
  };
  void Rebuild(Network& net);
  void OnGrad(int bucket, int slot, const torch::Tensor& grad);
  void LaunchReady(bool all);
  void Launch(Bucket& b);
  void Unhook(Network& net);

  std::shared_ptr<Communicator> comm_;
  GradientSyncOptions options_;
  std::vector<Bucket> buckets_;
  std::vector<std::pair<int, unsigned>> hooks_;  // (param, hook id)
  std::vector<bool> trainableSignature_;
  std::vector<std::vector<bool>> seen_;  // per bucket slot: a gradient arrived this step
  Network* hooked_ = nullptr;
  bool armed_ = false;
  size_t nextLaunch_ = 0;
  double localBatch_ = 0, localNotFinite_ = 0;
  bool globalEmpty_ = false;  // the last step had no sample on any replica
  int64_t step_ = 0;
  std::chrono::steady_clock::time_point backwardStart_;
  mutable std::mutex mutex_;  // hooks may run on autograd device threads (CUDA)
  GradientSyncStats stats_;
};

}  // namespace carclass::distributed
