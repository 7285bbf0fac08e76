// Threaded batch loader: a fixed pool decodes each sample straight into its slot of a batch,
// in an epoch order that depends only on (seed, epoch), with at most `prefetch` batches in memory.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "image/jpeg.h"
#include "image/transform.h"
#include "loader/batch.h"

namespace carclass::loader {

struct LoaderOptions {
  std::vector<std::string> files;
  std::vector<int32_t> labels;       // empty, or one per file
  std::vector<float> sampleWeights;  // empty, or one per file
  int64_t batchSize = 32;
  int height = 224, width = 224;
  image::Resize resize = image::Resize::CropOrPad;
  image::Preprocess preprocess = image::Preprocess::Tf;
  // Hand tf/caffe batches over as uint8 (flipped, with each sample's brightness/contrast): the
  // consumer preprocesses them, a quarter of the bytes to move.
  bool uint8Batches = false;
  image::DecodeOptions decode;
  bool shuffle = true;
  uint64_t seed = 0;
  bool augment = false;
  double augmentProbability = 0.7;
  bool augmentFlip = true, augmentBrightness = true, augmentContrast = true;  // which parts an applied draw uses
  bool mirror = false;  // every image flipped horizontally, nothing else (the feature cache's second orientation)
  int threads = 1;
  int prefetch = 2;
  bool skipErrors = true;  // onError 'skip'; false = 'throw'
  bool dropRemainder = false;
  // Data parallel: this replica's share of every epoch (DistributedSampler: the permutation padded
  // by repeating its start to a multiple of shardCount, then every shardCount-th item from shardIndex).
  int shardIndex = 0, shardCount = 1;
};

struct LoadError {
  std::string file, code, reason;
};

struct LoaderStats {
  int64_t images = 0, batches = 0;
  std::vector<LoadError> errors;
  double imagesPerSecond = 0;
};

// The full epoch permutation (Fisher-Yates from a counter RNG keyed by seed and epoch), or the
// identity when shuffle is off.
std::vector<int64_t> EpochOrder(int64_t count, bool shuffle, uint64_t seed, int64_t epoch);
// The positions replica `index` of `count` takes from a full epoch order (padded as described above).
std::vector<int64_t> ShardOrder(const std::vector<int64_t>& order, int index, int count);

class Loader {
 public:
  explicit Loader(LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  int64_t BatchesPerEpoch() const { return batchesPerEpoch_; }
  // Batches of an epoch started with StartEpoch(epoch, 0, skipItems); BatchesFrom(0) == BatchesPerEpoch().
  int64_t BatchesFrom(int64_t skipItems) const;
  // Starts producing `epoch` (cancelling any other run) and returns the token Next() expects.
  // `firstBatch` > 0 starts inside the epoch: the same order and augmentation, its earlier batches
  // left out (how a run interrupted mid-epoch resumes at the step it reached). `skipItems` > 0
  // instead leaves out the first skipItems items of the epoch's whole (unsharded) order, then shards
  // the rest: what a run interrupted by another number of shards had not trained on yet.
  uint64_t StartEpoch(int64_t epoch, int64_t firstBatch = 0, int64_t skipItems = 0);
  // Blocks until the run's next batch is ready; nullptr at its end or after Close().
  // Throws std::runtime_error "CODE|message" for a failed batch (onError 'throw') or a superseded run.
  BatchPtr Next(uint64_t token);
  // Next() without blocking: `ready` gets what Next(token) would return, or the exception it would
  // throw, once that is known: inside this call, or later on the loader thread that made it known
  // (a worker finishing a batch, or Cancel/StartEpoch/Close). Calls are answered in order.
  using NextCallback = std::function<void(BatchPtr batch, std::exception_ptr error)>;
  void NextAsync(uint64_t token, NextCallback ready);
  // Stops the run if it is still the current one; in-flight images finish, queued ones are dropped.
  void Cancel(uint64_t token);
  void Close();
  LoaderStats Stats() const;

 private:
  struct Slot;
  struct Run;
  struct BatchPool;
  BatchPtr AcquireBatch();
  void WorkerLoop();
  bool HasWork() const;
  void ProcessItem(Run& run, Slot& slot, int64_t position, image::RgbImage& decoded, std::vector<uint8_t>& bytes);
  void Finalize(Run& run, Slot& slot);
  void EndRunTimer(Run& run);
  // One look at Next(token)'s answer, with mutex_ held: false while the next batch is not ready.
  bool TryNext(uint64_t token, BatchPtr& out);
  // Answers the NextAsync callers whose answer is known now, calling them with mutex_ released.
  void ServeWaiters(std::unique_lock<std::mutex>& lock);

  const LoaderOptions options_;
  const int64_t batchesPerEpoch_;
  const size_t sampleValues_;  // height * width * 3

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::shared_ptr<Run> current_;
  uint64_t nextToken_ = 1;
  bool closed_ = false;
  std::vector<std::thread> workers_;
  struct Waiter {
    uint64_t token;
    NextCallback ready;
  };
  std::deque<Waiter> waiters_;  // NextAsync callers, oldest first
  std::shared_ptr<BatchPool> pool_;  // recycles pixel buffers released by JS / the engine

  int64_t images_ = 0, batches_ = 0;
  std::vector<LoadError> errors_;
  double activeSeconds_ = 0;
};

}  // namespace carclass::loader
